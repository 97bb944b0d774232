// The Web Worker that owns the wasm module, the WebGPU device and the weights cache. All GPU
// work happens here; the page only draws. Messages are typed in protocol.ts.
//
// This file starts the core and dispatches the page's messages; the rest is in www/src/worker/:
//   state.ts   everything the worker keeps (one `state` object) and the transitions on it
//   errors.ts  failures mapped to the page's categories (fail, classify)
//   load.ts    loading a model and its metric models
//   run.ts     generation and editing
//   scores.ts  the scores of the latest run's images
//   decoder.ts the script's second role: the image decoder (started as DECODER_WORKER_NAME)

import init, { Session, debugPanic } from '../pkg/ezigen.js';
import { WASM_FILE } from './build-info.js';
import type { BenchRecord, GpuFailure, KernelCheck, Request } from './protocol.js';
import { DECODER_WORKER_NAME } from './protocol.js';
import { WeightStore, deleteAllWeights, storageInfo } from './weights.js';
import { serveDecoder } from './worker/decoder.js';
import { fail } from './worker/errors.js';
import { loadMetrics, loadModel } from './worker/load.js';
import { cancelRun, runPipeline } from './worker/run.js';
import { post, requireSession, state } from './worker/state.js';

function gpuFailure(detail: string): GpuFailure {
  return /adapter/i.test(detail) ? 'no-adapter' : 'device-failed';
}

/** Loads the wasm core and opens the WebGPU session; says 'ready', or why not. */
async function start(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: unknown }).gpu;
  if (!gpu) {
    post({ type: 'gpu-unavailable', reason: 'no-webgpu', detail: 'navigator.gpu is undefined' });
    return;
  }
  try {
    state.wasmMemory = (await init({ module_or_path: new URL(`./${WASM_FILE}`, import.meta.url) })).memory;
  } catch (e) {
    post({ type: 'startup-failed', message: `The app's WebAssembly core could not be loaded: ${e instanceof Error ? e.message : e}` });
    return;
  }
  let session: Session;
  try {
    session = await Session.create();
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    post({ type: 'gpu-unavailable', reason: gpuFailure(detail), detail });
    return;
  }
  state.session = session;
  state.adapter = session.adapter();
  post({ type: 'ready', adapter: state.adapter });
}

/**
 * The GPU self-test: the smoke test, then the WGSL kernels against their references, in f16
 * where the adapter has it: a driver whose f16 path is wrong gets the f32 path for the model
 * instead of broken images.
 */
async function selfTest(f16: boolean): Promise<void> {
  try {
    const core = requireSession();
    const t0 = performance.now();
    const output = await core.smoke(f16);
    const ms = performance.now() - t0;
    const kernels: KernelCheck[] = await core.kernelCheck(state.adapter?.shader_f16 === true);
    state.f16Unreliable = kernels.some((k) => k.dtype === 'f16' && !k.ok);
    post({ type: 'smoke-result', output, ms, kernels, f16Unreliable: state.f16Unreliable });
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
}

/** The benchmark on the loaded model: its records as they come, then 'bench-done'. */
async function bench(req: Extract<Request, { type: 'bench' }>): Promise<void> {
  const t0 = performance.now();
  let error: string | null = null;
  try {
    if (!state.model) throw new Error('No model is loaded yet.');
    if (state.running) throw new Error('A run is in progress.');
    const core = requireSession();
    await core.benchmark(req.options, (record) => post({ type: 'bench-record', record: record as BenchRecord }));
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  post({ type: 'bench-done', ms: performance.now() - t0, error });
}

/** The GPU worker's message loop. */
async function onRequest(ev: MessageEvent<Request>): Promise<void> {
  const req = ev.data;
  switch (req.type) {
    case 'smoke':
      await selfTest(req.f16);
      break;
    case 'remembered-self-test':
      state.f16Unreliable = req.f16Unreliable;
      break;
    case 'load-model':
      try {
        await loadModel(req);
      } catch (e) {
        fail(null, 'model', e);
      }
      break;
    case 'cancel-load':
      state.modelLoad?.abort();
      break;
    case 'debug-panic':
      try {
        debugPanic('requested by the page');
      } catch (e) {
        fail(null, 'model', e);
      }
      break;
    case 'storage-info':
    case 'delete-cache':
      try {
        let deleted = false;
        if (req.type === 'delete-cache') {
          state.modelLoad?.abort();
          state.metricsLoad?.abort();
          deleted = await deleteAllWeights();
        }
        post({ type: 'storage-info', storage: await storageInfo(await WeightStore.open()), deleted });
      } catch (e) {
        fail(null, 'storage', e);
      }
      break;
    case 'generate':
    case 'edit':
      try {
        await runPipeline(req);
      } catch (e) {
        fail(req.id, 'run', e);
      }
      break;
    case 'cancel':
      cancelRun(req.id);
      break;
    case 'load-metrics':
      try {
        await loadMetrics(req);
      } catch (e) {
        fail(null, 'metrics', e);
      }
      break;
    case 'scores-off':
      state.scoresOn = false;
      state.metricsLoad?.abort();
      break;
    case 'prompt-tokens': {
      let tokens = null;
      try {
        if (state.model) tokens = requireSession().promptTokens(req.text);
      } catch {
        // an untokenizable prompt is reported when the run starts
      }
      post({ type: 'prompt-tokens', text: req.text, tokens });
      break;
    }
    case 'bench':
      await bench(req);
      break;
  }
}

if (self.name === DECODER_WORKER_NAME) {
  serveDecoder(new URL(`./${WASM_FILE}`, import.meta.url));
} else {
  self.onmessage = onRequest;
  start().catch((e) => post({ type: 'startup-failed', message: e instanceof Error ? e.message : String(e) }));
}
