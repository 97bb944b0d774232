// The "Graphics device" part of the panel: the adapter report, the GPU self-test line and the
// explanation shown when WebGPU cannot be used.

import { $, show } from '../dom.js';
import { GPU_MESSAGES } from '../messages.js';
import type { AdapterReport, GpuFailure, Reply } from '../protocol.js';
import type { ActionButton } from './actions.js';
import type { ModelPanel } from './model-panel.js';
import { openPanel } from './panel.js';
import { state } from './state.js';

/** What the GPU panel needs from the rest of the page. */
export interface GpuPanelDeps {
  actionButton: ActionButton;
  model: Pick<ModelPanel, 'setStatus'>;
  /** Re-checks whether the run button can run. */
  refresh(): void;
}

/** The GPU panel's operations. */
export interface GpuPanel {
  /** The worker has a device: shows the adapter and its limits. */
  showAdapter(a: AdapterReport): void;
  /** No usable GPU: explains why and blocks the model and runs. */
  showFailure(reason: GpuFailure, detail: string): void;
  /** The device is being (re)started. */
  setStarting(): void;
  /** The self-test computation was sent to the worker. */
  selfTestStarted(): void;
  /** The self-test result (and the WGSL kernel checks) arrived. */
  selfTestPassed(msg: Extract<Reply, { type: 'smoke-result' }>): void;
  /** The self-test failed with `message`. */
  selfTestFailed(message: string): void;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** Creates the GPU panel (it has no controls of its own). */
export function createGpuPanel(deps: GpuPanelDeps): GpuPanel {
  const { actionButton, model, refresh } = deps;

  function showAdapter(a: AdapterReport): void {
    state.adapter = a;
    state.gpu = 'ok';
    $('adapter-name').textContent = a.name || '(unnamed adapter)';
    $('adapter-backend').textContent = `${a.backend} · ${a.device_type}`;
    $('adapter-f16').textContent = a.shader_f16 ? 'yes (f16 path)' : 'no (f32 path)';
    $('limit-buffer').textContent = mib(a.max_buffer_size);
    $('limit-binding').textContent = mib(a.max_storage_buffer_binding_size);
    $('limit-workgroup').textContent = `${(a.max_compute_workgroup_storage_size / 1024).toFixed(0)} KiB`;
    show($('adapter'), true);
    show($('gpu-error'), false);
    const status = $('gpu-status');
    status.textContent = 'WebGPU is ready.';
    status.dataset.state = 'ok';
    refresh();
  }

  function showFailure(reason: GpuFailure, detail: string): void {
    state.gpu = 'failed';
    const { title, body } = GPU_MESSAGES[reason];
    const box = $('gpu-error');
    box.replaceChildren();
    const h = document.createElement('h3');
    h.textContent = title;
    const p = document.createElement('p');
    p.textContent = body;
    const d = document.createElement('p');
    d.className = 'detail';
    d.textContent = `Details: ${detail}`;
    const actions = document.createElement('div');
    actions.className = 'row tight';
    actions.append(actionButton('reload-page'));
    box.append(h, p, d, actions);
    box.hidden = false;
    box.dataset.reason = reason;
    const status = $('gpu-status');
    status.textContent = 'WebGPU is not available.';
    status.dataset.state = 'failed';
    const st = $('selftest-status');
    st.textContent = 'Skipped: no GPU device.';
    st.dataset.state = 'failed';
    model.setStatus('failed', 'No GPU: the model cannot be loaded.');
    openPanel();
    refresh();
  }

  function setStarting(): void {
    state.gpu = 'loading';
    const gs = $('gpu-status');
    gs.textContent = 'Starting WebGPU…';
    gs.dataset.state = 'loading';
  }

  function selfTestStarted(): void {
    const st = $('selftest-status');
    st.textContent = 'Running a small computation on the GPU…';
    st.dataset.state = 'running';
  }

  function selfTestPassed(msg: Extract<Reply, { type: 'smoke-result' }>): void {
    const st = $('selftest-status');
    let kernels = '';
    if (msg.kernels) {
      const good = msg.kernels.filter((k) => k.ok).length;
      const dtype = msg.kernels[0]?.dtype ?? '';
      kernels = ` WGSL kernels: ${good} of ${msg.kernels.length} match their reference (${dtype}).`;
      if (msg.f16Unreliable) kernels += ' Half precision gave wrong results on this device, so models load in f32.';
      st.dataset.kernels = JSON.stringify(msg.kernels);
    }
    st.textContent = `GPU self-test passed: ${msg.output.shape.join('×')} values in ${msg.ms.toFixed(0)} ms.${kernels}`;
    st.dataset.state = 'ok';
    st.dataset.values = JSON.stringify(msg.output.values);
  }

  function selfTestFailed(message: string): void {
    const st = $('selftest-status');
    st.textContent = `GPU self-test failed: ${message}`;
    st.dataset.state = 'failed';
  }

  return { showAdapter, showFailure, setStarting, selfTestStarted, selfTestPassed, selfTestFailed };
}
