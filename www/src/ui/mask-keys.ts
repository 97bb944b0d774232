// Keyboard shortcuts of the mask painters ([ ] size, Ctrl+Z / Ctrl+Shift+Z, B/E): they go to
// the mask used last (stroke, toolbar or a newly loaded image), unless typing in a field.

import type { MaskCanvas } from '../mask-canvas.js';

/** Remembers which mask painter was used last and sends it the shortcuts. */
export class MaskKeys {
  private active: MaskCanvas | null = null;

  /** Makes `canvas` the one the shortcuts go to first. */
  activate(canvas: MaskCanvas): void {
    this.active = canvas;
  }

  /** A stroke on `canvas` or a press on its toolbar makes it the active one. */
  track(canvas: MaskCanvas, toolbarHost: HTMLElement): void {
    canvas.addEventListener('strokestart', () => this.activate(canvas));
    toolbarHost.addEventListener('pointerdown', () => this.activate(canvas));
  }

  /**
   * Listens for the shortcuts. They go to the first visible, paintable mask among the active
   * one and `fallbacks()` (the masks that can be painted now).
   */
  listen(fallbacks: () => MaskCanvas[]): void {
    document.addEventListener('keydown', (e) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || (t.tagName === 'INPUT' && !['range', 'radio', 'checkbox', 'button'].includes((t as HTMLInputElement).type)))) return;
      const candidates: MaskCanvas[] = [];
      if (this.active) candidates.push(this.active);
      candidates.push(...fallbacks());
      const target = candidates.find((c) => c.width > 0 && c.element.offsetParent !== null && !c.element.classList.contains('view-only'));
      if (target && target.handleKey(e)) e.preventDefault();
    });
  }
}
