// Recovery action buttons (Retry, Reload model, …) shown with failures; what each does is
// supplied by main.ts.

import { ACTION_LABELS, type Action } from '../messages.js';

/** Makes a button for a recovery action. */
export type ActionButton = (action: Action) => HTMLButtonElement;

/** Returns a factory of action buttons; a click runs `handlers[action]`. */
export function createActionButtons(handlers: Record<Action, () => void>): ActionButton {
  return (action) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = ACTION_LABELS[action];
    b.dataset.action = action;
    b.addEventListener('click', () => handlers[action]());
    return b;
  };
}
