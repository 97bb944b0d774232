// The Web Worker that owns the wasm module and the WebGPU device. All GPU work happens here;
// the page only draws.

import init, { Session } from '../pkg/ezigen.js';
import type { Reply, Request, GpuFailure } from './protocol.js';

const post = (msg: Reply) => (self as unknown as Worker).postMessage(msg);

let session: Session | undefined;

function classify(detail: string): GpuFailure {
  return /adapter/i.test(detail) ? 'no-adapter' : 'device-failed';
}

async function start(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: unknown }).gpu;
  if (!gpu) {
    post({ type: 'gpu-unavailable', reason: 'no-webgpu', detail: 'navigator.gpu is undefined' });
    return;
  }
  await init({ module_or_path: new URL('./ezigen_bg.wasm', import.meta.url) });
  try {
    session = await Session.create();
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    post({ type: 'gpu-unavailable', reason: classify(detail), detail });
    return;
  }
  post({ type: 'ready', adapter: JSON.parse(session.adapterJson()) });
}

self.onmessage = async (ev: MessageEvent<Request>) => {
  const req = ev.data;
  try {
    if (!session) throw new Error('the GPU session is not ready');
    if (req.type === 'smoke') {
      const t0 = performance.now();
      const output = JSON.parse(await session.smokeJson(req.f16));
      post({ type: 'smoke-result', output, ms: performance.now() - t0 });
    }
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
};

start().catch((e) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
