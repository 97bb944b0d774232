// The "Graphics device" part of the panel: the adapter report, the GPU self-test line and the
// explanation shown when WebGPU cannot be used. The self-test runs once per adapter, browser and
// core build: its result is remembered (selftest-memory.ts) and shown on later visits, with a
// button to run it again, so the model loads without waiting for it.

import { WORKER_FILE } from '../build-info.js';
import { $, show } from '../dom.js';
import { GPU_MESSAGES } from '../messages.js';
import type { AdapterReport, GpuFailure, KernelCheck, Reply } from '../protocol.js';
import type { WorkerClient } from '../worker-client.js';
import type { ActionButton } from './actions.js';
import type { ModelPanel } from './model-panel.js';
import { openPanel } from './panel.js';
import { pageStore, recallSelfTest, rememberSelfTest, selfTestKey, type SelfTestRecord } from './selftest-memory.js';
import { state } from './state.js';

/** What the GPU panel needs from the rest of the page. */
export interface GpuPanelDeps {
  client: WorkerClient;
  actionButton: ActionButton;
  /** A model is loading or an image is being made (the self-test waits for them). */
  isBusy(): boolean;
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
  /**
   * The worker is ready: shows the result remembered for this adapter, browser and build and
   * tells the worker whether f16 is reliable (returns true: nothing to wait for), or starts the
   * self-test (returns false: its result arrives as a reply).
   */
  beginSelfTest(): boolean;
  /** The self-test result (and the WGSL kernel checks) arrived; it is remembered. */
  selfTestPassed(msg: Extract<Reply, { type: 'smoke-result' }>): void;
  /** The self-test failed with `message`; that is remembered too. */
  selfTestFailed(message: string): void;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** Creates the GPU panel (it has no controls of its own). */
export function createGpuPanel(deps: GpuPanelDeps): GpuPanel {
  const { client, actionButton, model, refresh } = deps;
  const rerun = $<HTMLButtonElement>('selftest-rerun');
  /** Self-tests run in this page (0 when a remembered result was used). */
  let runs = 0;
  /** The result line last shown. */
  let resultText = '';

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
    show(rerun, false);
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

  /** The key of this adapter + browser + core build (null before the adapter is known). */
  const memoryKey = () => (state.adapter ? selfTestKey(state.adapter, navigator.userAgent, WORKER_FILE) : null);

  function remember(passed: boolean, f16Unreliable: boolean, detail: string, kernels: KernelCheck[] | null): void {
    const key = memoryKey();
    if (key) rememberSelfTest(pageStore(), { key, at: Date.now(), passed, f16Unreliable, detail, kernels });
  }

  /** Shows a result line with the button to run the self-test again. */
  function showResult(ok: boolean, text: string, at: number, remembered: boolean): void {
    const st = $('selftest-status');
    resultText = text;
    st.textContent = text;
    st.dataset.state = ok ? 'ok' : 'failed';
    st.dataset.remembered = String(remembered);
    st.dataset.ranAt = new Date(at).toISOString();
    rerun.disabled = false;
    show(rerun, true);
  }

  function runSelfTest(): void {
    runs += 1;
    const st = $('selftest-status');
    st.textContent = 'Running a small computation on the GPU…';
    st.dataset.state = 'running';
    st.dataset.runs = String(runs);
    delete st.dataset.remembered;
    rerun.disabled = true;
    client.send({ type: 'smoke', f16: false });
  }

  function showRemembered(r: SelfTestRecord): void {
    const when = new Date(r.at).toLocaleString();
    const text = r.passed ? `GPU self-test passed earlier (${when}): ${r.detail}` : `GPU self-test failed earlier (${when}): ${r.detail}`;
    showResult(r.passed, text, r.at, true);
    if (r.kernels) $('selftest-status').dataset.kernels = JSON.stringify(r.kernels);
  }

  function beginSelfTest(): boolean {
    const key = memoryKey();
    const known = key ? recallSelfTest(pageStore(), key) : null;
    if (!known) {
      runSelfTest();
      return false;
    }
    // Before any model load is sent: the flag decides the precision the model loads in.
    client.send({ type: 'remembered-self-test', f16Unreliable: known.f16Unreliable });
    showRemembered(known);
    return true;
  }

  function kernelSummary(kernels: KernelCheck[], f16Unreliable: boolean): string {
    const good = kernels.filter((k) => k.ok).length;
    const dtype = kernels[0]?.dtype ?? '';
    let text = ` WGSL kernels: ${good} of ${kernels.length} match their reference (${dtype}).`;
    if (f16Unreliable) text += ' Half precision gave wrong results on this device, so models load in f32.';
    return text;
  }

  function selfTestPassed(msg: Extract<Reply, { type: 'smoke-result' }>): void {
    const st = $('selftest-status');
    const kernels = msg.kernels ? kernelSummary(msg.kernels, msg.f16Unreliable) : '';
    if (msg.kernels) st.dataset.kernels = JSON.stringify(msg.kernels);
    const detail = `${msg.output.shape.join('×')} values in ${msg.ms.toFixed(0)} ms.${kernels}`;
    // A model loaded in f16 before this (re-)run found f16 unreliable keeps f16 until reloaded.
    const reload = msg.f16Unreliable && state.model.status === 'ready' && state.model.precision === 'f16' ? ' Load the model again to switch.' : '';
    showResult(true, `GPU self-test passed: ${detail}${reload}`, Date.now(), false);
    st.dataset.values = JSON.stringify(msg.output.values);
    remember(true, msg.f16Unreliable, detail, msg.kernels);
  }

  function selfTestFailed(message: string): void {
    showResult(false, `GPU self-test failed: ${message}`, Date.now(), false);
    remember(false, false, message, null);
  }

  rerun.addEventListener('click', () => {
    if (deps.isBusy()) {
      $('selftest-status').textContent = `${resultText} To run it again, wait until the model has loaded and no image is being made.`;
      return;
    }
    if (state.gpu === 'ok' && client.running && client.ready) runSelfTest();
  });

  return { showAdapter, showFailure, setStarting, beginSelfTest, selfTestPassed, selfTestFailed };
}
