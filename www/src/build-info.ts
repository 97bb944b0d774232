// The content-hashed file names of this build. www/tools/build-web.mjs bundles the worker with
// EZIGEN_WASM_FILE and EZIGEN_TOKENIZER_FILE and the page with EZIGEN_WORKER_FILE defined
// (esbuild `define`), because each name is a hash of the file's bytes and is only known once that
// file is built. Unbundled (type check, unit tests) they fall back to the plain names.

declare const EZIGEN_WASM_FILE: string | undefined;
declare const EZIGEN_WORKER_FILE: string | undefined;
declare const EZIGEN_TOKENIZER_FILE: string | undefined;

/** The wasm core's file name, next to the worker script (e.g. `ezigen_bg.3f2a9c1d.wasm`). */
export const WASM_FILE: string = typeof EZIGEN_WASM_FILE === 'string' ? EZIGEN_WASM_FILE : 'ezigen_bg.wasm';

/**
 * The CLIP tokenizer (gzip-compressed tokenizer.json, e.g. `tokenizer.json.9a8b7c6d.gz`), next to
 * the worker script: the converter writes it with a model converted in the page. It is a file of
 * its own, not part of the wasm, so that only a conversion downloads it (the service worker keeps
 * it once fetched).
 */
export const TOKENIZER_FILE: string = typeof EZIGEN_TOKENIZER_FILE === 'string' ? EZIGEN_TOKENIZER_FILE : 'tokenizer.json.gz';

/**
 * The worker script's file name, next to the page's script (e.g. `worker.1b2c3d4e.js`). Its hash
 * covers the worker code and the wasm name, so it also identifies the core build that a GPU
 * self-test result belongs to (ui/selftest-memory.ts).
 */
export const WORKER_FILE: string = typeof EZIGEN_WORKER_FILE === 'string' ? EZIGEN_WORKER_FILE : 'worker.js';
