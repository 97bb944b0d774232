// The pure side of the mask painter (www/src/mask-canvas.ts): brush discs and strokes painted
// into a mask byte buffer (one byte per pixel, 255 = painted, 0 = not), invert and counting,
// the undo/redo history of changed rectangles, the display scaling and overlay pixels, the
// brush geometry under a pointer and the keyboard shortcuts. Nothing here touches the DOM.

/** A rectangle of mask pixels; `x1` and `y1` are exclusive. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** One undoable step: the mask bytes of the rectangle (x, y, w, h) before and after it, row by row. */
export interface Patch {
  x: number;
  y: number;
  w: number;
  h: number;
  before: Uint8Array;
  after: Uint8Array;
}

/** The painting tools: the brush paints (255), the eraser clears (0). */
export type MaskTool = 'brush' | 'eraser';

/** The byte a painted mask pixel holds. */
export const PAINTED = 255;

/** Smallest brush diameter in screen pixels. */
export const MIN_BRUSH = 2;

/** Largest brush diameter in screen pixels. */
export const MAX_BRUSH = 400;

/** Factor by which `[` and `]` shrink and grow the brush. */
export const BRUSH_KEY_STEP = 1.25;

/** Factor by which one Ctrl+wheel notch shrinks or grows the brush. */
export const BRUSH_WHEEL_STEP = 1.15;

/** Longest side of the display canvases; larger images are shown scaled down. */
export const DISPLAY_MAX = 4096;

/** Bytes of undo history kept per canvas (oldest steps are dropped first). */
export const HISTORY_BYTES = 96 * 1048576;

/** Most undo steps kept per canvas. */
export const HISTORY_STEPS = 100;

/** The smallest rectangle holding `r` (none when null) and `add`. */
export function unionRect(r: Rect | null, add: Rect): Rect {
  if (!r) return { ...add };
  return { x0: Math.min(r.x0, add.x0), y0: Math.min(r.y0, add.y0), x1: Math.max(r.x1, add.x1), y1: Math.max(r.y1, add.y1) };
}

/**
 * Sets to `value` every pixel of the `width`×`height` mask whose centre lies within `r` of
 * (cx, cy); a brush too small to cover any centre sets the pixel under (cx, cy). Returns the
 * rectangle that may have changed, or null when nothing was inside the mask.
 */
export function stampDisc(mask: Uint8Array, width: number, height: number, cx: number, cy: number, r: number, value: number): Rect | null {
  const y0 = Math.max(0, Math.floor(cy - r));
  const y1 = Math.min(height - 1, Math.ceil(cy + r));
  let minX = Infinity;
  let maxX = -Infinity;
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    // A row whose pixel centres all lie beyond the radius paints nothing.
    if (dy * dy > r * r) continue;
    const half = Math.sqrt(r * r - dy * dy);
    const xa = Math.max(0, Math.ceil(cx - half - 0.5));
    const xb = Math.min(width - 1, Math.floor(cx + half - 0.5));
    if (xb < xa) continue;
    mask.fill(value, y * width + xa, y * width + xb + 1);
    minX = Math.min(minX, xa);
    maxX = Math.max(maxX, xb);
  }
  if (minX > maxX) {
    // A brush smaller than a pixel still paints the pixel under it.
    const x = Math.floor(cx);
    const y = Math.floor(cy);
    if (x < 0 || y < 0 || x >= width || y >= height) return null;
    mask[y * width + x] = value;
    return { x0: x, y0: y, x1: x + 1, y1: y + 1 };
  }
  return { x0: minX, y0, x1: maxX + 1, y1: y1 + 1 };
}

/**
 * Stamps discs of radius `r` along the segment from (x0, y0) to (x1, y1), at most max(0.5, r/3)
 * apart, leaving out the start (already stamped by the previous point). Returns the rectangle
 * that may have changed, or null.
 */
export function stampLine(
  mask: Uint8Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  r: number,
  value: number,
): Rect | null {
  const dist = Math.hypot(x1 - x0, y1 - y0);
  const step = Math.max(0.5, r / 3);
  const n = Math.max(1, Math.ceil(dist / step));
  let dirty: Rect | null = null;
  for (let i = 1; i <= n; i++) {
    const rect = stampDisc(mask, width, height, x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, r, value);
    if (rect) dirty = unionRect(dirty, rect);
  }
  return dirty;
}

/** Number of painted (non-zero) pixels. */
export function countPainted(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}

/** Swaps painted and unpainted pixels in place (any non-zero byte becomes 0, 0 becomes 255). */
export function invertMask(mask: Uint8Array): void {
  for (let i = 0; i < mask.length; i++) mask[i] = mask[i] ? 0 : PAINTED;
}

/** The step that turned `before` into `after` (whole masks `width` wide) inside `rect`. */
export function cropPatch(before: Uint8Array, after: Uint8Array, width: number, rect: Rect): Patch {
  const { x0, y0, x1, y1 } = rect;
  const w = x1 - x0;
  const h = y1 - y0;
  const b = new Uint8Array(w * h);
  const a = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const off = (y0 + y) * width + x0;
    b.set(before.subarray(off, off + w), y * w);
    a.set(after.subarray(off, off + w), y * w);
  }
  return { x: x0, y: y0, w, h, before: b, after: a };
}

/** Painted pixels that the step adds (negative when it removes more than it adds). */
export function paintedDelta(p: Patch): number {
  let delta = 0;
  for (let i = 0; i < p.before.length; i++) delta += (p.after[i] ? 1 : 0) - (p.before[i] ? 1 : 0);
  return delta;
}

/** Writes `data` (the patch's `before` or `after` bytes) into its rectangle of the `width`-wide mask. */
export function applyPatch(mask: Uint8Array, width: number, p: Patch, data: Uint8Array): void {
  for (let y = 0; y < p.h; y++) mask.set(data.subarray(y * p.w, (y + 1) * p.w), (p.y + y) * width + p.x);
}

/**
 * Undo and redo of mask patches. A new step drops the redo steps; the oldest steps go once the
 * undo steps hold more than `maxBytes` (two copies each) or number more than `maxSteps`, but
 * the newest step is always kept.
 */
export class MaskHistory {
  private undoStack: Patch[] = [];
  private redoStack: Patch[] = [];

  /** A history bounded to `maxBytes` of patch data and `maxSteps` undo steps. */
  constructor(
    readonly maxBytes = HISTORY_BYTES,
    readonly maxSteps = HISTORY_STEPS,
  ) {}

  /** Whether there is a step to undo. */
  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  /** Whether there is an undone step to redo. */
  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Number of steps that can be undone. */
  get undoSteps(): number {
    return this.undoStack.length;
  }

  /** Number of steps that can be redone. */
  get redoSteps(): number {
    return this.redoStack.length;
  }

  /** Forgets every step. */
  reset(): void {
    this.undoStack = [];
    this.redoStack = [];
  }

  /** Records a step already applied to the mask; the redo steps are dropped. */
  push(p: Patch): void {
    this.undoStack.push(p);
    this.redoStack = [];
    let bytes = this.undoStack.reduce((a, q) => a + q.before.length * 2, 0);
    while (this.undoStack.length > 1 && (bytes > this.maxBytes || this.undoStack.length > this.maxSteps)) {
      const old = this.undoStack.shift()!;
      bytes -= old.before.length * 2;
    }
  }

  /** Restores the last step's `before` bytes into `mask`; returns that step, or null when there is none. */
  undo(mask: Uint8Array, width: number): Patch | null {
    const p = this.undoStack.pop();
    if (!p) return null;
    applyPatch(mask, width, p, p.before);
    this.redoStack.push(p);
    return p;
  }

  /** Writes the last undone step's `after` bytes back into `mask`; returns that step, or null. */
  redo(mask: Uint8Array, width: number): Patch | null {
    const p = this.redoStack.pop();
    if (!p) return null;
    applyPatch(mask, width, p, p.after);
    this.undoStack.push(p);
    return p;
  }
}

/** Display scale of a `width`×`height` mask: 1, or less so that its longest side fits `max`. */
export function displayScale(width: number, height: number, max = DISPLAY_MAX): number {
  return Math.min(1, max / Math.max(width, height));
}

/** Size in pixels of the display canvases for a `width`×`height` mask at scale `ds` (at least 1×1). */
export function displaySize(width: number, height: number, ds: number): { width: number; height: number } {
  return { width: Math.max(1, Math.round(width * ds)), height: Math.max(1, Math.round(height * ds)) };
}

/**
 * CSS size of a `width`×`height` image fitted to `availWidth` and `maxHeight` (it may grow);
 * `pixelated` when it is shown more than 1.5 times enlarged.
 */
export function fitBox(width: number, height: number, availWidth: number, maxHeight: number): { width: number; height: number; pixelated: boolean } {
  const scale = Math.min(availWidth / width, maxHeight / height);
  return { width: Math.max(1, Math.floor(width * scale)), height: Math.max(1, Math.floor(height * scale)), pixelated: scale > 1.5 };
}

/** A rectangle of display pixels: (x, y) and its size. */
export interface DisplayArea {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The display pixels (at scale `ds`, on a canvas of `displayW`×`displayH`) that cover the mask
 * rectangle (x, y, w, h); null when that is empty.
 */
export function displayArea(x: number, y: number, w: number, h: number, ds: number, displayW: number, displayH: number): DisplayArea | null {
  if (w <= 0 || h <= 0) return null;
  const dx0 = Math.floor(x * ds);
  const dy0 = Math.floor(y * ds);
  const dx1 = Math.min(displayW, Math.ceil((x + w) * ds));
  const dy1 = Math.min(displayH, Math.ceil((y + h) * ds));
  if (dx1 - dx0 <= 0 || dy1 - dy0 <= 0) return null;
  return { x: dx0, y: dy0, w: dx1 - dx0, h: dy1 - dy0 };
}

/**
 * Fills `out` (RGBA, `area.w`×`area.h`, cleared) with the overlay of `area`: each display pixel
 * whose nearest mask pixel is painted becomes `color`, opaque; the others are left as they are.
 */
export function overlayPixels(
  out: Uint8ClampedArray,
  mask: Uint8Array,
  width: number,
  height: number,
  ds: number,
  area: DisplayArea,
  color: readonly [number, number, number],
): void {
  const [r, g, b] = color;
  const { x: dx0, y: dy0, w: dw, h: dh } = area;
  for (let yy = 0; yy < dh; yy++) {
    // Nearest mask pixel of each display pixel (identity when ds = 1).
    const sy = ds === 1 ? dy0 + yy : Math.min(height - 1, Math.floor((dy0 + yy + 0.5) / ds));
    const row = sy * width;
    let dst = yy * dw * 4;
    for (let xx = 0; xx < dw; xx++, dst += 4) {
      const sx = ds === 1 ? dx0 + xx : Math.min(width - 1, Math.floor((dx0 + xx + 0.5) / ds));
      if (mask[row + sx]) {
        out[dst] = r;
        out[dst + 1] = g;
        out[dst + 2] = b;
        out[dst + 3] = 255;
      }
    }
  }
}

/** The default largest display height in CSS pixels: 65 % of the viewport, kept within 240..720. */
export function defaultMaxHeight(viewportHeight: number): number {
  return Math.max(240, Math.min(viewportHeight * 0.65, 720));
}

/** An overlay opacity clamped to 0..1. */
export function clampOpacity(opacity: number): number {
  return Math.min(1, Math.max(0, opacity));
}

/** A brush diameter rounded and clamped to MIN_BRUSH..MAX_BRUSH. */
export function clampBrushSize(size: number): number {
  return Math.round(Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, size)));
}

/**
 * The brush in mask pixels for a pointer at (px, py) CSS pixels inside a display box of
 * `boxW`×`boxH` showing a `width`×`height` mask, with a brush `size` CSS pixels wide; a pen
 * `pressure` above 0 scales the radius (down to 0.15×). The radius is at least 0.5.
 */
export function brushAt(
  px: number,
  py: number,
  boxW: number,
  boxH: number,
  width: number,
  height: number,
  size: number,
  pressure = 0,
): { x: number; y: number; r: number } {
  const sx = width / boxW;
  const sy = height / boxH;
  let r = (size / 2) * sx;
  if (pressure > 0) r *= Math.max(0.15, pressure);
  return { x: px * sx, y: py * sy, r: Math.max(0.5, r) };
}

/** What a keyboard shortcut of the mask painter does. */
export type MaskKeyAction = 'undo' | 'redo' | 'smaller' | 'larger' | 'eraser' | 'brush';

/**
 * The shortcut for `key` (KeyboardEvent.key) with the modifiers: Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z
 * and Ctrl/Cmd+Y redo, `[`/`]` brush size, E eraser, B brush; null for any other key.
 */
export function maskKeyAction(key: string, mod: boolean, shift: boolean, alt: boolean): MaskKeyAction | null {
  const k = key.toLowerCase();
  if (mod && k === 'z') return shift ? 'redo' : 'undo';
  if (mod && k === 'y') return 'redo';
  if (mod || alt) return null;
  if (key === '[') return 'smaller';
  if (key === ']') return 'larger';
  if (k === 'e') return 'eraser';
  if (k === 'b') return 'brush';
  return null;
}
