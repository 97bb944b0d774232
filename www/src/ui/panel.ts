// The collapsible "Model & device" panel (#model-panel) and the header chip that toggles it.

import { $ } from '../dom.js';

/** Wires the header chip to open and close the panel, keeping aria-expanded in step. */
export function setupModelPanelToggle(): void {
  const panel = $<HTMLDetailsElement>('model-panel');
  const chip = $('model-chip');
  chip.addEventListener('click', () => {
    panel.open = !panel.open;
    if (panel.open) panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  });
  panel.addEventListener('toggle', () => chip.setAttribute('aria-expanded', String(panel.open)));
}

/** Opens the panel (where a problem or a question for the user is shown). */
export function openPanel(): void {
  $<HTMLDetailsElement>('model-panel').open = true;
}
