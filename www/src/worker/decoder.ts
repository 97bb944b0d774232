// The worker script in its second role: the image decoder (started by decode-client.ts under
// DECODER_WORKER_NAME). It loads the same wasm core and decodes the files the user picks with the
// core's `decodeImage`, the rules the CLI applies, without touching the GPU. It runs apart from
// the GPU worker so that a decode never waits behind a run, works without WebGPU, and its
// memory (a large photo's pixels grow the wasm memory for good) goes when the page stops it.

import init, { decodeImage } from '../../pkg/ezigen.js';
import type { DecodeReply, DecodeRequest } from '../protocol.js';

/** Whether `e` is a refusal by the core (an Error with its failure `kind`), not a failure of it. */
const refused = (e: unknown): boolean => e instanceof Error && typeof (e as Error & { kind?: unknown }).kind === 'string';

/** Answers DecodeRequests with the core loaded from `wasmUrl`, until the page terminates this worker. */
export function serveDecoder(wasmUrl: URL): void {
  const core = init({ module_or_path: wasmUrl });
  const reply = (msg: DecodeReply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(msg, transfer);
  self.onmessage = async (ev: MessageEvent<DecodeRequest>) => {
    const { id, bytes } = ev.data;
    try {
      await core;
      const image = decodeImage(bytes);
      reply({ id, image }, [image.data.buffer]);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      reply({ id, error: refused(e) ? message : `the app's core could not read it (${message})`, fatal: !refused(e) });
    }
  };
}
