// The Generate / Edit a photo switch: which inputs are shown and the mode hint. The run
// button's label follows the mode through `refresh` (run-panel.ts, which also locks the switch
// during a run).

import { $ } from '../dom.js';
import { state, type Mode } from './state.js';

const MODE_HINTS: Record<Mode, string> = {
  generate: 'Make a new image of your subject from a text prompt.',
  edit: 'Paint an area of a photo and put your subject there.',
};

/** Wires the mode radios; returns the function that switches the mode. */
export function createModeSwitch(deps: { onEdit(): void; refresh(): void }): (mode: Mode) => void {
  function setMode(mode: Mode): void {
    state.mode = mode;
    document.body.dataset.mode = mode;
    $<HTMLInputElement>(`mode-${mode}`).checked = true;
    for (const el of document.querySelectorAll<HTMLElement>('[data-mode]')) {
      if (el === document.body) continue;
      el.hidden = el.dataset.mode !== mode;
    }
    $('mode-hint').textContent = MODE_HINTS[mode];
    if (mode === 'edit') deps.onEdit();
    deps.refresh();
  }
  for (const m of ['generate', 'edit'] as const) {
    $<HTMLInputElement>(`mode-${m}`).addEventListener('change', (ev) => {
      if ((ev.target as HTMLInputElement).checked) setMode(m);
    });
  }
  return setMode;
}
