// The one place that talks to the worker (worker.ts): starts and stops it, sends typed
// Requests and hands its typed Replies to the page. It lives next to main.ts so that the
// worker's URL resolves the same in the sources and in the bundle (main.js, worker.js; their
// content-hashed names come from build-info.ts).

import { WORKER_FILE } from './build-info.js';
import type { Reply, Request } from './protocol.js';

/** What the page does with the worker's messages and failures. */
export interface WorkerClientHandlers {
  /** Every reply, in order. */
  onReply(msg: Reply): void;
  /** The Worker could not be constructed (`detail` says why). */
  onStartFailed(detail: string): void;
  /** The worker's script failed; `ready`: it had answered its startup before. */
  onCrash(what: string, ready: boolean): void;
  /** A message from the worker could not be deserialised. */
  onUnreadable(): void;
}

/** Replies that end the worker's startup (after one of them it counts as ready). */
const STARTUP_REPLIES: ReadonlySet<Reply['type']> = new Set(['ready', 'gpu-unavailable', 'startup-failed']);

/** The background worker, as the page sees it. */
export class WorkerClient {
  private worker: Worker | null = null;
  private answered = false;

  constructor(private readonly handlers: WorkerClientHandlers) {}

  /** A worker exists (started and not stopped). */
  get running(): boolean {
    return this.worker !== null;
  }

  /** The worker has answered its startup (ready, no GPU, or failed). */
  get ready(): boolean {
    return this.answered;
  }

  /** Starts a fresh worker. */
  start(): void {
    this.answered = false;
    try {
      this.worker = new Worker(new URL(`./${WORKER_FILE}`, import.meta.url), { type: 'module' });
    } catch (e) {
      this.handlers.onStartFailed(`the worker could not start: ${e}`);
      return;
    }
    this.worker.onerror = (ev) => {
      ev.preventDefault();
      this.handlers.onCrash(ev.message || 'the script failed to load', this.answered);
    };
    this.worker.onmessageerror = () => this.handlers.onUnreadable();
    this.worker.onmessage = (ev: MessageEvent<Reply>) => {
      if (STARTUP_REPLIES.has(ev.data.type)) this.answered = true;
      this.handlers.onReply(ev.data);
    };
  }

  /** Throws the worker (and the GPU device with it) away. */
  stop(): void {
    this.worker?.terminate();
    this.worker = null;
  }

  /** Sends a request; `transfer` lists buffers handed over to the worker. */
  send(req: Request, transfer: Transferable[] = []): void {
    if (!this.worker) throw new Error('the worker is not running');
    this.worker.postMessage(req, transfer);
  }
}
