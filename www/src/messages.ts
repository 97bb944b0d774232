// Human explanations of every failure, each with the actions that can fix it.

import type { FailureKind, GpuFailure, ModelInfo, Stage, StorageInfo } from './protocol.js';
import { formatBytes } from './weights.js';

/** Recovery actions the page knows how to perform. */
export type Action =
  | 'reload-model'
  | 'retry'
  | 'delete-cache'
  | 'choose-folder'
  | 'load-without-saving'
  | 'reload-page';

/** The labels of the action buttons. */
export const ACTION_LABELS: Record<Action, string> = {
  'reload-model': 'Reload model',
  retry: 'Retry',
  'delete-cache': 'Delete cached weights',
  'choose-folder': 'Choose a local folder…',
  'load-without-saving': 'Load without saving',
  'reload-page': 'Reload the page',
};

export interface Explanation {
  title: string;
  body: string;
  actions: Action[];
}

export const GPU_MESSAGES: Record<GpuFailure, { title: string; body: string }> = {
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
      'acceleration may be turned off (enable it in the browser settings and restart the browser), ' +
      'or the GPU or driver may be blocked by the browser. Recent Chrome, Edge or Safari work best.',
  },
  'device-failed': {
    title: 'The graphics device could not be started',
    body:
      'WebGPU found an adapter but could not start it. Close other tabs that use the GPU and reload ' +
      'the page; if that does not help, update the graphics driver or try Chrome, Edge or Safari.',
  },
};

export function explain(kind: FailureKind, message: string): Explanation {
  switch (kind) {
    case 'adapter-too-small':
      return {
        title: "This graphics card's limits are too small for the full model",
        body: `${message} Try a recent Chrome or Edge (they raise these limits on most desktop GPUs) or another device. The built-in tiny test model still works here.`,
        actions: [],
      };
    case 'device-lost':
      return {
        title: 'The graphics device was lost',
        body: `The GPU stopped responding (a driver reset, or it ran out of memory). Close other tabs and apps that use the GPU, then reload the model. Details: ${message}`,
        actions: ['reload-model'],
      };
    case 'out-of-memory':
      return {
        title: 'The graphics card ran out of memory',
        body: `Close other tabs and apps that use the GPU, use the f16 path if your card offers it, then reload the model and try again. Details: ${message}`,
        actions: ['reload-model'],
      };
    case 'corrupt-shard':
      return { title: 'A weight file is damaged', body: message, actions: ['retry'] };
    case 'quota-exceeded':
      return {
        title: 'Not enough storage space for the model',
        body: `${message} Free some disk space, delete old cached weights, or load the model without saving it (it is then downloaded again on the next visit).`,
        actions: ['delete-cache', 'load-without-saving', 'choose-folder'],
      };
    case 'network':
      return { title: 'The download failed', body: message, actions: ['retry'] };
    case 'no-model':
      return { title: 'No model found', body: message, actions: ['choose-folder', 'retry'] };
    case 'bad-input':
      return { title: 'That did not work with these inputs', body: message, actions: [] };
    case 'cancelled':
      // The worker's message is only "Cancelled." again: not repeated under the title.
      return { title: 'Cancelled', body: 'Stopped. Everything is ready to run again.', actions: [] };
    case 'no-webgpu':
    case 'no-adapter':
      return { ...GPU_MESSAGES[kind], actions: ['reload-page'] };
    case 'internal':
    default:
      return {
        title: 'Something went wrong inside the app',
        body: `${message} Reloading the model usually helps; if it keeps happening, reload the page.`,
        actions: ['reload-model', 'reload-page'],
      };
  }
}

/**
 * A failure of the metric models (the scores): no recovery actions, since the generation is not
 * affected and turning the scores on again retries (stored parts are kept).
 */
export function explainMetrics(kind: FailureKind, message: string): { title: string; body: string } {
  const again = 'Generating and editing work as before. Turn the scores on again to retry: parts downloaded so far are kept.';
  switch (kind) {
    case 'no-model':
      return { title: 'No scores for this model', body: message };
    case 'quota-exceeded':
      return { title: 'Not enough storage space for the score models', body: `${message} Free some disk space or delete old cached weights. ${again}` };
    case 'bad-input':
      return { title: 'The scores are not available yet', body: message };
    default: {
      const ex = explain(kind, message);
      return { title: `The score models could not be loaded: ${ex.title.charAt(0).toLowerCase()}${ex.title.slice(1)}`, body: `${message} ${again}` };
    }
  }
}

export const STAGE_LABELS: Record<Stage, string> = {
  'encode-text': 'Encoding the prompt',
  reference: "Reading the subject's features",
  'subject-reused': "Subject ready (its features from the last run are reused)",
  layout: 'Laying out the scene',
  transfer: 'Transferring the subject',
  inversion: 'Inverting the photo',
  decode: 'Decoding the image',
};

/** " This site may use 1.2 GB more storage." when the browser says how much, else "". */
export function freeStorageNote(st: StorageInfo | null): string {
  return st && st.quota !== null && st.usage !== null ? ` This site may use ${formatBytes(st.quota - st.usage)} more storage.` : '';
}

/** Where a load's weights come from, in words ("downloading 2.1 GB", "from browser storage", …). */
export function loadSourceWords(info: ModelInfo): string {
  if (info.source === 'files') return 'from the chosen folder';
  if (info.toDownloadBytes > 0) return `downloading ${formatBytes(info.toDownloadBytes)}`;
  return info.source === 'stored' ? 'converted in this browser, from its storage' : 'from browser storage';
}
