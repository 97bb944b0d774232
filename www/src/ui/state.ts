// The page's shared state: mode, GPU and model status. Modules read it to decide what to show;
// each field is written by the module named next to it.

import type { AdapterReport, ModelInfo } from '../protocol.js';

/** The two things the page does. */
export type Mode = 'generate' | 'edit';

/** Where loading the model stands (model-panel.ts). */
export type ModelStatus = 'idle' | 'loading' | 'confirm' | 'ready' | 'failed';

/** The page state shared between the UI modules. */
export const state = {
  /** mode.ts */
  mode: 'generate' as Mode,
  /** gpu-panel.ts */
  gpu: 'loading' as 'loading' | 'ok' | 'failed',
  /** gpu-panel.ts */
  adapter: null as AdapterReport | null,
  /** model-panel.ts */
  model: {
    status: 'idle' as ModelStatus,
    name: '',
    tiny: false,
    precision: 'f32' as 'f16' | 'f32',
    progress: 0,
    info: null as ModelInfo | null,
  },
  /** scores.ts: the scores are turned on (their lines are shown under the results). */
  scores: false,
  /** Load the model once the GPU self-test is done (main.ts: at start and on restarts). */
  autoLoadAfterReady: true,
};
