// A paintable mask over an image: brush and eraser (Pointer Events: mouse, touch and pen with
// optional pressure), Shift+click straight lines, undo/redo, clear, invert, loading a mask, an
// overlay opacity. The mask is kept at the image's own resolution (one byte per pixel, 255 =
// painted); the display is scaled to fit. Used for the edit mask and for the subject mask.
// This file is the DOM widget; the pixel work is in mask-raster.ts, the toolbar in mask-toolbar.ts.

import type { MaskImage } from './protocol.js';
import {
  BRUSH_KEY_STEP,
  BRUSH_WHEEL_STEP,
  MAX_BRUSH,
  MIN_BRUSH,
  MaskHistory,
  PAINTED,
  brushAt,
  clampBrushSize,
  clampOpacity,
  countPainted,
  cropPatch,
  defaultMaxHeight,
  displayArea,
  displayScale,
  displaySize,
  fitBox,
  invertMask,
  maskKeyAction,
  overlayPixels,
  paintedDelta,
  stampDisc,
  stampLine,
  unionRect,
  type MaskTool,
  type Rect,
} from './mask-raster.js';

export type { MaskTool };
export { createMaskToolbar } from './mask-toolbar.js';

export interface MaskCanvasOptions {
  /** Accessible name of the painting surface. */
  label: string;
  /** Overlay colour (r, g, b). */
  color?: [number, number, number];
  /** Largest display height in CSS pixels (the width follows the container). */
  maxHeight?: () => number;
}

export class MaskCanvas extends EventTarget {
  static readonly MIN_SIZE = MIN_BRUSH;
  static readonly MAX_SIZE = MAX_BRUSH;

  /** The element to put in the page (image, overlay and brush cursor). */
  readonly element: HTMLDivElement;
  private readonly base: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private readonly cursor: HTMLDivElement;
  private readonly color: [number, number, number];
  private readonly maxHeight: () => number;

  width = 0;
  height = 0;
  /** Display scale of the canvases relative to the mask (1 up to DISPLAY_MAX pixels). */
  private ds = 1;
  private mask = new Uint8Array(0);
  private history = new MaskHistory();
  private painted = 0;

  tool: MaskTool = 'brush';
  /** Brush diameter in screen pixels. */
  size = 40;
  opacity = 0.55;

  private stroke: { snapshot: Uint8Array; dirty: Rect | null; value: number; pointer: number } | null = null;
  private last: { x: number; y: number } | null = null;
  /** Mask rectangle painted since the last flush. */
  private pending: Rect | null = null;
  private resizeObserver: ResizeObserver;

  constructor(opts: MaskCanvasOptions) {
    super();
    this.color = opts.color ?? [236, 72, 153];
    this.maxHeight = opts.maxHeight ?? (() => defaultMaxHeight(window.innerHeight));
    this.element = document.createElement('div');
    this.element.className = 'mask-canvas';
    this.base = document.createElement('canvas');
    this.base.className = 'mask-base';
    this.base.setAttribute('aria-hidden', 'true');
    this.overlay = document.createElement('canvas');
    this.overlay.className = 'mask-overlay';
    this.overlay.tabIndex = 0;
    this.overlay.setAttribute('role', 'img');
    this.overlay.setAttribute('aria-label', `${opts.label}. Paint with the mouse, a finger or a pen; [ and ] change the brush size, Ctrl+Z undoes.`);
    this.cursor = document.createElement('div');
    this.cursor.className = 'mask-cursor';
    this.cursor.hidden = true;
    this.element.append(this.base, this.overlay, this.cursor);
    this.setOpacity(this.opacity);

    const o = this.overlay;
    o.addEventListener('pointerdown', (e) => this.onDown(e));
    o.addEventListener('pointermove', (e) => this.onMove(e));
    o.addEventListener('pointerup', (e) => this.onUp(e));
    o.addEventListener('pointercancel', (e) => this.onUp(e));
    o.addEventListener('pointerleave', () => {
      if (!this.stroke) this.cursor.hidden = true;
    });
    o.addEventListener('contextmenu', (e) => e.preventDefault());
    o.addEventListener(
      'wheel',
      (e) => {
        if (!e.ctrlKey && !e.metaKey) return;
        e.preventDefault();
        this.setSize(this.size * (e.deltaY < 0 ? BRUSH_WHEEL_STEP : 1 / BRUSH_WHEEL_STEP));
        this.moveCursor(e);
      },
      { passive: false },
    );
    this.resizeObserver = new ResizeObserver(() => this.fit());
  }

  /** Shows `image` (any drawable of `width`×`height`) and starts an empty mask of that size. */
  setImage(image: CanvasImageSource, width: number, height: number): void {
    this.width = width;
    this.height = height;
    // The canvases only display: above DISPLAY_MAX they are drawn smaller (the mask itself
    // always keeps the image's full resolution).
    this.ds = displayScale(width, height);
    const d = displaySize(width, height, this.ds);
    this.base.width = d.width;
    this.base.height = d.height;
    this.base.getContext('2d')!.drawImage(image, 0, 0, d.width, d.height);
    this.overlay.width = d.width;
    this.overlay.height = d.height;
    this.mask = new Uint8Array(width * height);
    this.history.reset();
    this.last = null;
    this.stroke = null;
    this.painted = 0;
    this.renderAll();
    this.fit();
    if (this.element.parentElement) this.resizeObserver.observe(this.element.parentElement);
    this.changed('image');
  }

  /** Fits the display into the container's width and the maximum height. */
  fit(): void {
    const parent = this.element.parentElement;
    if (!parent || !this.width) return;
    const box = fitBox(this.width, this.height, parent.clientWidth || this.width, this.maxHeight());
    this.element.style.width = `${box.width}px`;
    this.element.style.height = `${box.height}px`;
    this.element.classList.toggle('pixelated', box.pixelated);
  }

  /** Call after inserting `element` into the page. */
  attached(): void {
    if (this.element.parentElement) this.resizeObserver.observe(this.element.parentElement);
    this.fit();
  }

  get canUndo(): boolean {
    return this.history.canUndo;
  }

  get canRedo(): boolean {
    return this.history.canRedo;
  }

  /** Number of painted pixels. */
  get paintedPixels(): number {
    return this.painted;
  }

  /** A copy of the mask. */
  getMask(): MaskImage {
    return { width: this.width, height: this.height, data: this.mask.slice() };
  }

  /** Replaces the mask (must have the image's size), as one undoable step. */
  setMask(m: MaskImage): void {
    if (m.width !== this.width || m.height !== this.height) throw new Error('mask size differs from the image');
    this.fullStep((mask) => mask.set(m.data));
  }

  clear(): void {
    if (this.painted === 0) return;
    this.fullStep((mask) => mask.fill(0));
  }

  invert(): void {
    this.fullStep(invertMask);
  }

  undo(): void {
    const p = this.history.undo(this.mask, this.width);
    if (!p) return;
    this.afterPatch(p);
    this.changed('undo');
  }

  redo(): void {
    const p = this.history.redo(this.mask, this.width);
    if (!p) return;
    this.afterPatch(p);
    this.changed('redo');
  }

  setTool(tool: MaskTool): void {
    this.tool = tool;
    this.changed('tool');
  }

  setSize(size: number): void {
    this.size = clampBrushSize(size);
    this.cursor.style.width = this.cursor.style.height = `${this.size}px`;
    this.changed('size');
  }

  setOpacity(opacity: number): void {
    this.opacity = clampOpacity(opacity);
    this.overlay.style.opacity = String(this.opacity);
    this.changed('opacity');
  }

  /**
   * Keyboard shortcuts: `[`/`]` brush size, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, E eraser,
   * B brush. Returns true when the key was used.
   */
  handleKey(e: KeyboardEvent): boolean {
    if (!this.width) return false;
    const action = maskKeyAction(e.key, e.ctrlKey || e.metaKey, e.shiftKey, e.altKey);
    if (action === 'undo') this.undo();
    else if (action === 'redo') this.redo();
    else if (action === 'smaller') this.setSize(this.size / BRUSH_KEY_STEP);
    else if (action === 'larger') this.setSize(this.size * BRUSH_KEY_STEP);
    else if (action === 'eraser' || action === 'brush') this.setTool(action);
    else return false;
    return true;
  }

  // --- painting ---------------------------------------------------------------------------

  private toImage(e: PointerEvent | WheelEvent | MouseEvent): { x: number; y: number; r: number } {
    const rect = this.overlay.getBoundingClientRect();
    const pressure = e instanceof PointerEvent && e.pointerType === 'pen' ? e.pressure : 0;
    return brushAt(e.clientX - rect.left, e.clientY - rect.top, rect.width, rect.height, this.width, this.height, this.size, pressure);
  }

  private moveCursor(e: MouseEvent): void {
    const rect = this.overlay.getBoundingClientRect();
    this.cursor.hidden = false;
    this.cursor.style.width = this.cursor.style.height = `${this.size}px`;
    this.cursor.style.transform = `translate(${e.clientX - rect.left - this.size / 2}px, ${e.clientY - rect.top - this.size / 2}px)`;
    this.cursor.classList.toggle('erasing', this.tool === 'eraser');
  }

  private onDown(e: PointerEvent): void {
    if (!this.width || this.stroke) return;
    if (e.pointerType === 'mouse' && e.button !== 0 && e.button !== 2) return;
    e.preventDefault();
    this.overlay.focus({ preventScroll: true });
    try {
      this.overlay.setPointerCapture(e.pointerId);
    } catch {
      // Synthetic events have no capturable pointer.
    }
    const erase = this.tool === 'eraser' || e.button === 2;
    this.stroke = { snapshot: this.mask.slice(), dirty: null, value: erase ? 0 : PAINTED, pointer: e.pointerId };
    const p = this.toImage(e);
    if (e.shiftKey && this.last) this.line(this.last.x, this.last.y, p.x, p.y, p.r);
    else this.stamp(p.x, p.y, p.r);
    this.last = { x: p.x, y: p.y };
    this.moveCursor(e);
    this.flush();
    this.dispatchEvent(new Event('strokestart'));
  }

  private onMove(e: PointerEvent): void {
    this.moveCursor(e);
    if (!this.stroke || e.pointerId !== this.stroke.pointer) return;
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = this.toImage(ev);
      if (this.last) this.line(this.last.x, this.last.y, p.x, p.y, p.r);
      else this.stamp(p.x, p.y, p.r);
      this.last = { x: p.x, y: p.y };
    }
    this.flush();
  }

  private onUp(e: PointerEvent): void {
    const s = this.stroke;
    if (!s || e.pointerId !== s.pointer) return;
    this.stroke = null;
    if (e.pointerType !== 'mouse') this.cursor.hidden = true;
    if (!s.dirty) return;
    const patch = cropPatch(s.snapshot, this.mask, this.width, s.dirty);
    this.painted += paintedDelta(patch);
    this.history.push(patch);
    this.changed('stroke');
  }

  /** Fills a disc of radius `r` around (cx, cy) with the stroke's value. */
  private stamp(cx: number, cy: number, r: number): void {
    this.grow(stampDisc(this.mask, this.width, this.height, cx, cy, r, this.stroke!.value));
  }

  /** Paints the stroke from (x0, y0) to (x1, y1). */
  private line(x0: number, y0: number, x1: number, y1: number, r: number): void {
    this.grow(stampLine(this.mask, this.width, this.height, x0, y0, x1, y1, r, this.stroke!.value));
  }

  /** Adds a painted rectangle to the stroke's undo rectangle and to what the next flush redraws. */
  private grow(rect: Rect | null): void {
    if (!rect) return;
    const s = this.stroke!;
    s.dirty = unionRect(s.dirty, rect);
    this.pending = unionRect(this.pending, rect);
  }

  /** Redraws what changed since the last flush. */
  private flush(): void {
    if (!this.pending) return;
    const { x0, y0, x1, y1 } = this.pending;
    this.pending = null;
    this.renderRect(x0, y0, x1 - x0, y1 - y0);
  }

  // --- history and rendering ----------------------------------------------------------------

  private fullStep(edit: (mask: Uint8Array) => void): void {
    if (!this.width) return;
    const before = this.mask.slice();
    edit(this.mask);
    this.history.push({ x: 0, y: 0, w: this.width, h: this.height, before, after: this.mask.slice() });
    this.painted = countPainted(this.mask);
    this.renderAll();
    this.changed('edit');
  }

  /** Recounts and redraws after an undo or redo wrote `p` back into the mask. */
  private afterPatch(p: { x: number; y: number; w: number; h: number }): void {
    this.painted = countPainted(this.mask);
    this.renderRect(p.x, p.y, p.w, p.h);
  }

  private renderAll(): void {
    this.renderRect(0, 0, this.width, this.height);
  }

  /** Redraws the overlay over the mask rectangle (x, y, w, h), in display pixels. */
  private renderRect(x: number, y: number, w: number, h: number): void {
    const area = displayArea(x, y, w, h, this.ds, this.overlay.width, this.overlay.height);
    if (!area) return;
    const img = new ImageData(area.w, area.h);
    overlayPixels(img.data, this.mask, this.width, this.height, this.ds, area, this.color);
    this.overlay.getContext('2d')!.putImageData(img, area.x, area.y);
  }

  private changed(kind: string): void {
    this.element.dataset.painted = String(this.painted);
    this.element.dataset.size = String(this.size);
    this.element.dataset.tool = this.tool;
    this.dispatchEvent(new CustomEvent('change', { detail: kind }));
  }
}
