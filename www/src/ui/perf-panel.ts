// The "Performance" part of the panel: the load timeline (page open → model ready → first
// denoising step) and the benchmark (run, its table, copy as JSON lines).

import { $, show } from '../dom.js';
import { describeGemmTuning } from '../gemm-tuning.js';
import type { BenchRecord, GemmTuningInfo, Stage } from '../protocol.js';
import { formatBytes } from '../weights.js';
import type { WorkerClient } from '../worker-client.js';
import { state } from './state.js';

/** The performance panel's operations. */
export interface PerfPanel {
  /** The model finished loading after `loadMs`: notes the time, enables the benchmark (and runs it for `?bench`). */
  onModelReady(loadMs: number): void;
  /** Called for every progress message: notes when the first denoising step of the visit ends. */
  noteFirstStep(stage: Stage, step: number): void;
  /** One benchmark record arrived. */
  onRecord(r: BenchRecord): void;
  /** The benchmark finished (error: why it failed). */
  onDone(ms: number, error: string | null): void;
  /** Which GEMM kernels the loaded model runs (kept, tuned now, or the defaults). */
  onGemmTuning(info: GemmTuningInfo): void;
}

/** Wires the benchmark buttons. */
export function createPerfPanel(client: WorkerClient): PerfPanel {
  /** Milliseconds since the page was opened (performance.now()'s origin is the navigation). */
  const timeline = {
    modelReadyAt: null as number | null,
    loadMs: null as number | null,
    firstStepAt: null as number | null,
  };
  let benchStarted = false;
  const benchRecords: BenchRecord[] = [];

  function showTimeline(): void {
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const parts: string[] = [];
    if (timeline.modelReadyAt !== null) parts.push(`page open → model ready: ${s(timeline.modelReadyAt)} (loading took ${s(timeline.loadMs ?? 0)})`);
    if (timeline.firstStepAt !== null) parts.push(`page open → first denoising step: ${s(timeline.firstStepAt)}`);
    const el = $('perf-timeline');
    el.textContent = parts.join(' · ') || 'Timings appear once a model is loaded.';
    if (timeline.modelReadyAt !== null) el.dataset.modelReadyMs = String(Math.round(timeline.modelReadyAt));
    if (timeline.firstStepAt !== null) el.dataset.firstStepMs = String(Math.round(timeline.firstStepAt));
  }

  function noteFirstStep(stage: Stage, step: number): void {
    if (timeline.firstStepAt === null && step >= 1 && (stage === 'layout' || stage === 'inversion')) {
      timeline.firstStepAt = performance.now();
      showTimeline();
    }
  }

  function runBenchmark(): void {
    benchStarted = true;
    benchRecords.length = 0;
    const table = $<HTMLTableElement>('bench-table');
    table.tBodies[0].replaceChildren();
    delete table.dataset.done;
    show(table, false);
    show($('bench-copy'), false);
    $<HTMLButtonElement>('bench-run').disabled = true;
    $('bench-status').textContent = 'Benchmark running… (the first run of each stage includes compiling its GPU kernels)';
    // ?bench-steps=…&bench-iterations=…&bench-repeats=… shorten the full runs (automation).
    const q = new URLSearchParams(location.search);
    const num = (k: string) => (q.has(k) && Number.isFinite(Number(q.get(k))) && Number(q.get(k)) > 0 ? Math.floor(Number(q.get(k))) : undefined);
    client.send({
      type: 'bench',
      options: {
        repeats: num('bench-repeats') ?? 2,
        steps: num('bench-steps'),
        iterations: num('bench-iterations'),
        labels: { model: state.model.name || 'unknown' },
      },
    });
  }

  function onModelReady(loadMs: number): void {
    timeline.modelReadyAt = performance.now();
    timeline.loadMs = loadMs;
    showTimeline();
    $<HTMLButtonElement>('bench-run').disabled = false;
    if (new URLSearchParams(location.search).has('bench') && !benchStarted) runBenchmark();
  }

  function onRecord(r: BenchRecord): void {
    benchRecords.push(r);
    const ms = (v: unknown) => (typeof v === 'number' ? `${v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v.toFixed(1) + ' ms'}` : '–');
    let name = r.bench;
    if (r.bench === 'unet_step') name += r.adapters ? ' (adapters on)' : ' (adapters off)';
    const memory = typeof r.peak_reserved_bytes === 'number' ? `peak ${formatBytes(r.peak_reserved_bytes)}` : typeof r.mem_in_use_bytes === 'number' ? formatBytes(r.mem_in_use_bytes) : '–';
    const row = document.createElement('tr');
    row.dataset.bench = r.bench;
    for (const text of [name, ms(r.ms), ms(r.first_ms), typeof r.dispatches === 'number' ? String(r.dispatches) : '–', memory]) {
      const td = document.createElement('td');
      td.textContent = text;
      row.append(td);
    }
    $<HTMLTableElement>('bench-table').tBodies[0].append(row);
    show($('bench-table'), true);
  }

  function onDone(ms: number, error: string | null): void {
    $<HTMLButtonElement>('bench-run').disabled = false;
    const table = $('bench-table');
    table.dataset.done = error ? 'error' : 'ok';
    $('bench-status').textContent = error ? `The benchmark failed: ${error}` : `Done in ${(ms / 1000).toFixed(1)} s.`;
    show($('bench-copy'), benchRecords.length > 0);
  }

  function copyBenchResults(): void {
    const text = benchRecords.map((r) => JSON.stringify(r)).join('\n');
    void navigator.clipboard?.writeText(text).then(
      () => ($('bench-status').textContent = 'Copied as JSON lines.'),
      () => ($('bench-status').textContent = 'Copying was refused by the browser.'),
    );
  }

  $('bench-run').addEventListener('click', runBenchmark);
  $('bench-copy').addEventListener('click', copyBenchResults);

  function onGemmTuning(info: GemmTuningInfo): void {
    const el = $('perf-gemm');
    el.textContent = describeGemmTuning(info);
    el.dataset.state = info.state;
    show(el, true);
  }

  return { onModelReady, noteFirstStep, onRecord, onDone, onGemmTuning };
}
