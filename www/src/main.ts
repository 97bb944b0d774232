// The page: draws what the worker reports. No GPU work and no math here.

import type { AdapterReport, GpuFailure, Reply, Request } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const MESSAGES: Record<GpuFailure, { title: string; body: string }> = {
  'no-webgpu': {
    title: 'This browser does not offer WebGPU',
    body:
      'EZIGen runs entirely on your graphics card through WebGPU. Please open this page in a ' +
      'recent Chrome, Edge or Safari (or enable WebGPU in your browser settings) and try again.',
  },
  'no-adapter': {
    title: 'No graphics adapter is available to WebGPU',
    body:
      'Your browser supports WebGPU but did not provide a graphics adapter. Hardware ' +
      'acceleration may be turned off, or the GPU or driver may be blocked by the browser.',
  },
  'device-failed': {
    title: 'The graphics device could not be started',
    body: 'WebGPU found an adapter but could not create a device on it.',
  },
};

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MiB`;
}

function showAdapter(a: AdapterReport): void {
  $('adapter-name').textContent = a.name || '(unnamed adapter)';
  $('adapter-backend').textContent = `${a.backend} · ${a.device_type}`;
  $('adapter-f16').textContent = a.shader_f16 ? 'yes (f16 path)' : 'no (f32 path)';
  $('limit-buffer').textContent = mib(a.max_buffer_size);
  $('limit-binding').textContent = mib(a.max_storage_buffer_binding_size);
  $('limit-workgroup').textContent = `${(a.max_compute_workgroup_storage_size / 1024).toFixed(0)} KiB`;
  $('adapter').hidden = false;
  const status = $('gpu-status');
  status.textContent = 'WebGPU is ready.';
  status.dataset.state = 'ok';
}

function showFailure(reason: GpuFailure, detail: string): void {
  const { title, body } = MESSAGES[reason];
  const box = $('gpu-error');
  box.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = title;
  const p = document.createElement('p');
  p.textContent = body;
  const d = document.createElement('p');
  d.className = 'detail';
  d.textContent = `Details: ${detail}`;
  box.append(h, p, d);
  box.hidden = false;
  box.dataset.reason = reason;
  const status = $('gpu-status');
  status.textContent = 'WebGPU is not available.';
  status.dataset.state = 'failed';
  const st = $('selftest-status');
  st.textContent = 'Skipped: no GPU device.';
  st.dataset.state = 'failed';
}

function startWorker(): void {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  } catch (e) {
    showFailure('device-failed', `the worker could not start: ${e}`);
    return;
  }
  const send = (req: Request) => worker.postMessage(req);
  worker.onerror = (ev) => showFailure('device-failed', `worker error: ${ev.message}`);
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const msg = ev.data;
    switch (msg.type) {
      case 'ready': {
        showAdapter(msg.adapter);
        const st = $('selftest-status');
        st.textContent = 'Running a small computation on the GPU…';
        st.dataset.state = 'running';
        send({ type: 'smoke', f16: false });
        break;
      }
      case 'gpu-unavailable':
        showFailure(msg.reason, msg.detail);
        break;
      case 'smoke-result': {
        const st = $('selftest-status');
        st.textContent = `GPU self-test passed: ${msg.output.shape.join('×')} values in ${msg.ms.toFixed(0)} ms.`;
        st.dataset.state = 'ok';
        st.dataset.values = JSON.stringify(msg.output.values);
        break;
      }
      case 'error': {
        const st = $('selftest-status');
        st.textContent = `GPU self-test failed: ${msg.message}`;
        st.dataset.state = 'failed';
        break;
      }
    }
  };
}

startWorker();
