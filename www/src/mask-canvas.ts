// A paintable mask over an image: brush and eraser (Pointer Events: mouse, touch and pen with
// optional pressure), Shift+click straight lines, undo/redo, clear, invert, loading a mask, an
// overlay opacity. The mask is kept at the image's own resolution (one byte per pixel, 255 =
// painted); the display is scaled to fit. Used for the edit mask and for the subject mask.

import type { MaskImage } from './protocol.js';

interface Patch {
  x: number;
  y: number;
  w: number;
  h: number;
  before: Uint8Array;
  after: Uint8Array;
}

interface Rect {
  x0: number;
  y0: number;
  x1: number; // exclusive
  y1: number;
}

export type MaskTool = 'brush' | 'eraser';

export interface MaskCanvasOptions {
  /** Accessible name of the painting surface. */
  label: string;
  /** Overlay colour (r, g, b). */
  color?: [number, number, number];
  /** Largest display height in CSS pixels (the width follows the container). */
  maxHeight?: () => number;
}

/** Longest side of the display canvases; larger images are shown scaled down. */
const DISPLAY_MAX = 4096;

/** Bytes of undo history kept per canvas (oldest steps are dropped first). */
const HISTORY_BYTES = 96 * 1048576;
const HISTORY_STEPS = 100;

export class MaskCanvas extends EventTarget {
  static readonly MIN_SIZE = 2;
  static readonly MAX_SIZE = 400;

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
  private undoStack: Patch[] = [];
  private redoStack: Patch[] = [];
  private painted = 0;

  tool: MaskTool = 'brush';
  /** Brush diameter in screen pixels. */
  size = 40;
  opacity = 0.55;

  private stroke: { snapshot: Uint8Array; dirty: Rect | null; value: number; pointer: number } | null = null;
  private last: { x: number; y: number } | null = null;
  private resizeObserver: ResizeObserver;

  constructor(opts: MaskCanvasOptions) {
    super();
    this.color = opts.color ?? [236, 72, 153];
    this.maxHeight = opts.maxHeight ?? (() => Math.max(240, Math.min(window.innerHeight * 0.65, 720)));
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
        this.setSize(this.size * (e.deltaY < 0 ? 1.15 : 1 / 1.15));
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
    this.ds = Math.min(1, DISPLAY_MAX / Math.max(width, height));
    const dw = Math.max(1, Math.round(width * this.ds));
    const dh = Math.max(1, Math.round(height * this.ds));
    this.base.width = dw;
    this.base.height = dh;
    this.base.getContext('2d')!.drawImage(image, 0, 0, dw, dh);
    this.overlay.width = dw;
    this.overlay.height = dh;
    this.mask = new Uint8Array(width * height);
    this.undoStack = [];
    this.redoStack = [];
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
    const avail = parent.clientWidth || this.width;
    const scale = Math.min(avail / this.width, this.maxHeight() / this.height);
    this.element.style.width = `${Math.max(1, Math.floor(this.width * scale))}px`;
    this.element.style.height = `${Math.max(1, Math.floor(this.height * scale))}px`;
    this.element.classList.toggle('pixelated', scale > 1.5);
  }

  /** Call after inserting `element` into the page. */
  attached(): void {
    if (this.element.parentElement) this.resizeObserver.observe(this.element.parentElement);
    this.fit();
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
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
    this.fullStep((mask) => {
      for (let i = 0; i < mask.length; i++) mask[i] = mask[i] ? 0 : 255;
    });
  }

  undo(): void {
    const p = this.undoStack.pop();
    if (!p) return;
    this.applyPatch(p, p.before);
    this.redoStack.push(p);
    this.changed('undo');
  }

  redo(): void {
    const p = this.redoStack.pop();
    if (!p) return;
    this.applyPatch(p, p.after);
    this.undoStack.push(p);
    this.changed('redo');
  }

  setTool(tool: MaskTool): void {
    this.tool = tool;
    this.changed('tool');
  }

  setSize(size: number): void {
    this.size = Math.round(Math.min(MaskCanvas.MAX_SIZE, Math.max(MaskCanvas.MIN_SIZE, size)));
    this.cursor.style.width = this.cursor.style.height = `${this.size}px`;
    this.changed('size');
  }

  setOpacity(opacity: number): void {
    this.opacity = Math.min(1, Math.max(0, opacity));
    this.overlay.style.opacity = String(this.opacity);
    this.changed('opacity');
  }

  /**
   * Keyboard shortcuts: `[`/`]` brush size, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, E eraser,
   * B brush. Returns true when the key was used.
   */
  handleKey(e: KeyboardEvent): boolean {
    if (!this.width) return false;
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.toLowerCase();
    if (mod && k === 'z') {
      if (e.shiftKey) this.redo();
      else this.undo();
      return true;
    }
    if (mod && k === 'y') {
      this.redo();
      return true;
    }
    if (mod || e.altKey) return false;
    if (e.key === '[') this.setSize(this.size / 1.25);
    else if (e.key === ']') this.setSize(this.size * 1.25);
    else if (k === 'e') this.setTool('eraser');
    else if (k === 'b') this.setTool('brush');
    else return false;
    return true;
  }

  // --- painting ---------------------------------------------------------------------------

  private toImage(e: PointerEvent | WheelEvent | MouseEvent): { x: number; y: number; r: number } {
    const rect = this.overlay.getBoundingClientRect();
    const sx = this.width / rect.width;
    const sy = this.height / rect.height;
    let r = (this.size / 2) * sx;
    if (e instanceof PointerEvent && e.pointerType === 'pen' && e.pressure > 0) r *= Math.max(0.15, e.pressure);
    return { x: (e.clientX - rect.left) * sx, y: (e.clientY - rect.top) * sy, r: Math.max(0.5, r) };
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
    this.stroke = { snapshot: this.mask.slice(), dirty: null, value: erase ? 0 : 255, pointer: e.pointerId };
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
    const { x0, y0, x1, y1 } = s.dirty;
    const w = x1 - x0;
    const h = y1 - y0;
    const before = new Uint8Array(w * h);
    const after = new Uint8Array(w * h);
    let delta = 0;
    for (let y = 0; y < h; y++) {
      const off = (y0 + y) * this.width + x0;
      before.set(s.snapshot.subarray(off, off + w), y * w);
      after.set(this.mask.subarray(off, off + w), y * w);
    }
    for (let i = 0; i < before.length; i++) delta += (after[i] ? 1 : 0) - (before[i] ? 1 : 0);
    this.painted += delta;
    this.push({ x: x0, y: y0, w, h, before, after });
    this.changed('stroke');
  }

  /** Fills a disc of radius `r` around (cx, cy) with the stroke's value. */
  private stamp(cx: number, cy: number, r: number): void {
    const s = this.stroke!;
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + r));
    let minX = Infinity;
    let maxX = -Infinity;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      const half = Math.sqrt(Math.max(0, r * r - dy * dy));
      const xa = Math.max(0, Math.ceil(cx - half - 0.5));
      const xb = Math.min(this.width - 1, Math.floor(cx + half - 0.5));
      if (xb < xa) continue;
      this.mask.fill(s.value, y * this.width + xa, y * this.width + xb + 1);
      minX = Math.min(minX, xa);
      maxX = Math.max(maxX, xb);
    }
    if (minX > maxX) {
      // A brush smaller than a pixel still paints the pixel under it.
      const x = Math.floor(cx);
      const y = Math.floor(cy);
      if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
      this.mask[y * this.width + x] = s.value;
      this.grow(x, y, x + 1, y + 1);
      return;
    }
    this.grow(minX, y0, maxX + 1, y1 + 1);
  }

  private line(x0: number, y0: number, x1: number, y1: number, r: number): void {
    const dist = Math.hypot(x1 - x0, y1 - y0);
    const step = Math.max(0.5, r / 3);
    const n = Math.max(1, Math.ceil(dist / step));
    for (let i = 1; i <= n; i++) this.stamp(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, r);
  }

  private pending: Rect | null = null;

  private grow(x0: number, y0: number, x1: number, y1: number): void {
    const s = this.stroke!;
    const add = (r: Rect | null): Rect =>
      r ? { x0: Math.min(r.x0, x0), y0: Math.min(r.y0, y0), x1: Math.max(r.x1, x1), y1: Math.max(r.y1, y1) } : { x0, y0, x1, y1 };
    s.dirty = add(s.dirty);
    this.pending = add(this.pending);
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
    this.push({ x: 0, y: 0, w: this.width, h: this.height, before, after: this.mask.slice() });
    this.recount();
    this.renderAll();
    this.changed('edit');
  }

  private push(p: Patch): void {
    this.undoStack.push(p);
    this.redoStack = [];
    let bytes = this.undoStack.reduce((a, q) => a + q.before.length * 2, 0);
    while (this.undoStack.length > 1 && (bytes > HISTORY_BYTES || this.undoStack.length > HISTORY_STEPS)) {
      const old = this.undoStack.shift()!;
      bytes -= old.before.length * 2;
    }
  }

  private applyPatch(p: Patch, data: Uint8Array): void {
    for (let y = 0; y < p.h; y++) this.mask.set(data.subarray(y * p.w, (y + 1) * p.w), (p.y + y) * this.width + p.x);
    this.recount();
    this.renderRect(p.x, p.y, p.w, p.h);
  }

  private recount(): void {
    let n = 0;
    for (let i = 0; i < this.mask.length; i++) if (this.mask[i]) n++;
    this.painted = n;
  }

  private renderAll(): void {
    this.renderRect(0, 0, this.width, this.height);
  }

  /** Redraws the overlay over the mask rectangle (x, y, w, h), in display pixels. */
  private renderRect(x: number, y: number, w: number, h: number): void {
    if (w <= 0 || h <= 0) return;
    const ds = this.ds;
    const dx0 = Math.floor(x * ds);
    const dy0 = Math.floor(y * ds);
    const dx1 = Math.min(this.overlay.width, Math.ceil((x + w) * ds));
    const dy1 = Math.min(this.overlay.height, Math.ceil((y + h) * ds));
    const dw = dx1 - dx0;
    const dh = dy1 - dy0;
    if (dw <= 0 || dh <= 0) return;
    const img = new ImageData(dw, dh);
    const d = img.data;
    const [r, g, b] = this.color;
    for (let yy = 0; yy < dh; yy++) {
      // Nearest mask pixel of each display pixel (identity when ds = 1).
      const sy = ds === 1 ? dy0 + yy : Math.min(this.height - 1, Math.floor((dy0 + yy + 0.5) / ds));
      const row = sy * this.width;
      let dst = yy * dw * 4;
      for (let xx = 0; xx < dw; xx++, dst += 4) {
        const sx = ds === 1 ? dx0 + xx : Math.min(this.width - 1, Math.floor((dx0 + xx + 0.5) / ds));
        if (this.mask[row + sx]) {
          d[dst] = r;
          d[dst + 1] = g;
          d[dst + 2] = b;
          d[dst + 3] = 255;
        }
      }
    }
    this.overlay.getContext('2d')!.putImageData(img, dx0, dy0);
  }

  private changed(kind: string): void {
    this.element.dataset.painted = String(this.painted);
    this.element.dataset.size = String(this.size);
    this.element.dataset.tool = this.tool;
    this.dispatchEvent(new CustomEvent('change', { detail: kind }));
  }
}

/** Builds the toolbar for a MaskCanvas; control ids start with `prefix` (e.g. "mask-undo"). */
export function createMaskToolbar(prefix: string, mc: MaskCanvas, what: string): HTMLElement {
  const bar = document.createElement('div');
  bar.className = 'mask-toolbar';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', `${what} tools`);

  const tools = document.createElement('div');
  tools.className = 'segmented small';
  tools.setAttribute('role', 'radiogroup');
  tools.setAttribute('aria-label', 'Tool');
  const radio = (tool: MaskTool, text: string, key: string) => {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = `${prefix}-tool`;
    input.id = `${prefix}-${tool}`;
    input.value = tool;
    input.checked = mc.tool === tool;
    input.addEventListener('change', () => input.checked && mc.setTool(tool));
    label.append(input, ` ${text}`);
    label.title = `${text} (${key})`;
    tools.append(label);
    return input;
  };
  const brush = radio('brush', 'Brush', 'B');
  const eraser = radio('eraser', 'Eraser', 'E');

  const range = (id: string, text: string, min: number, max: number, value: number, onInput: (v: number) => void) => {
    const label = document.createElement('label');
    label.className = 'range';
    label.htmlFor = id;
    const span = document.createElement('span');
    span.textContent = text;
    const input = document.createElement('input');
    input.type = 'range';
    input.id = id;
    input.min = String(min);
    input.max = String(max);
    input.value = String(value);
    const out = document.createElement('output');
    out.id = `${id}-value`;
    out.htmlFor.add(id);
    input.addEventListener('input', () => onInput(Number(input.value)));
    label.append(span, input, out);
    return { label, input, out };
  };
  const size = range(`${prefix}-size`, 'Size', MaskCanvas.MIN_SIZE, MaskCanvas.MAX_SIZE, mc.size, (v) => mc.setSize(v));
  const opacity = range(`${prefix}-opacity`, 'Overlay', 10, 100, Math.round(mc.opacity * 100), (v) => mc.setOpacity(v / 100));

  const button = (id: string, text: string, title: string, onClick: () => void) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.id = id;
    b.textContent = text;
    b.title = title;
    b.addEventListener('click', onClick);
    return b;
  };
  const undo = button(`${prefix}-undo`, 'Undo', 'Undo (Ctrl+Z)', () => mc.undo());
  const redo = button(`${prefix}-redo`, 'Redo', 'Redo (Ctrl+Shift+Z)', () => mc.redo());
  const clear = button(`${prefix}-clear`, 'Clear', 'Erase the whole mask', () => mc.clear());
  const invert = button(`${prefix}-invert`, 'Invert', 'Swap painted and unpainted areas', () => mc.invert());
  const actions = document.createElement('div');
  actions.className = 'row tight';
  actions.append(undo, redo, clear, invert);

  bar.append(tools, size.label, opacity.label, actions);

  const refresh = () => {
    brush.checked = mc.tool === 'brush';
    eraser.checked = mc.tool === 'eraser';
    size.input.value = String(mc.size);
    size.out.textContent = `${mc.size} px`;
    opacity.out.textContent = `${Math.round(mc.opacity * 100)} %`;
    undo.disabled = !mc.canUndo;
    redo.disabled = !mc.canRedo;
    clear.disabled = mc.paintedPixels === 0;
  };
  mc.addEventListener('change', refresh);
  refresh();
  return bar;
}
