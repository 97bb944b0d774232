// The page's side of the image decoder: a second instance of the worker script, started under
// DECODER_WORKER_NAME (worker/decoder.ts), that decodes picked, dropped and pasted image files
// with the core. Started on the first file and stopped when idle, so a large photo's memory does
// not stay with the page; a crashed decoder fails its pending files and the next file starts a
// fresh one.

import { WORKER_FILE } from './build-info.js';
import type { CoreDecoder } from './image.js';
import { DECODER_WORKER_NAME, type DecodeReply, type DecodeRequest, type RgbaImage } from './protocol.js';

/** How long the decoder stays after its last file (a few photos in a row share one). */
const IDLE_MS = 15_000;

/** The image decoder as the page uses it: `decode` is a CoreDecoder. */
export class DecodeClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(img: RgbaImage): void; reject(e: Error): void }>();
  private idle: ReturnType<typeof setTimeout> | null = null;

  /** Decodes a file's bytes in the decoder (the bytes are transferred). */
  readonly decode: CoreDecoder = (bytes) =>
    new Promise<RgbaImage>((resolve, reject) => {
      const worker = this.ensure();
      if (!worker) {
        reject(new Error('the image decoder could not start in this browser'));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.keepAlive();
      worker.postMessage({ id, bytes } satisfies DecodeRequest, [bytes.buffer]);
    });

  private ensure(): Worker | null {
    if (this.worker) return this.worker;
    try {
      this.worker = new Worker(new URL(`./${WORKER_FILE}`, import.meta.url), { type: 'module', name: DECODER_WORKER_NAME });
    } catch {
      return null;
    }
    this.worker.onmessage = (ev: MessageEvent<DecodeReply>) => this.onReply(ev.data);
    this.worker.onerror = (ev) => {
      ev.preventDefault();
      this.stop(`the image decoder failed (${ev.message || 'its script did not load'})`);
    };
    this.worker.onmessageerror = () => this.stop('a message from the image decoder could not be read');
    return this.worker;
  }

  private onReply(msg: DecodeReply): void {
    const waiting = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if ('image' in msg) waiting?.resolve(msg.image);
    else {
      waiting?.reject(new Error(msg.error));
      if (msg.fatal) {
        this.stop(msg.error);
        return;
      }
    }
    this.keepAlive();
  }

  /** Restarts the idle timer: the decoder stops IDLE_MS after its last file is answered. */
  private keepAlive(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.pending.size === 0) this.stop(null);
      else this.keepAlive();
    }, IDLE_MS);
  }

  /** Terminates the decoder; pending files fail with `why` (null: none can be pending). */
  private stop(why: string | null): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    this.worker?.terminate();
    this.worker = null;
    for (const { reject } of this.pending.values()) reject(new Error(why ?? 'the image decoder stopped'));
    this.pending.clear();
  }
}
