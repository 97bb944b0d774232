// www/src/mask-raster.ts: brush discs and strokes painted into a mask byte buffer, invert and
// counting, undo/redo patches and their bounded history, display scaling and overlay pixels,
// the brush under a pointer and the keyboard shortcuts of the mask painter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';

const {
  DISPLAY_MAX, HISTORY_STEPS, MAX_BRUSH, MIN_BRUSH, MaskHistory, PAINTED, applyPatch, brushAt, clampBrushSize, clampOpacity, countPainted, cropPatch, defaultMaxHeight, displayArea, displayScale, displaySize, fitBox, invertMask, maskKeyAction, overlayPixels, paintedDelta, stampDisc, stampLine, unionRect,
} = await load('mask-raster');

/** Whether the centre of pixel (x, y) lies within `r` of (cx, cy): what a brush disc covers. */
const inDisc = (x, y, cx, cy, r) => (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r;

/** Distance from (px, py) to the segment (ax, ay)–(bx, by). */
function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** Every pixel (x, y) of a `w`×`h` mask for which `want(x, y)` differs from the mask's byte being `value`. */
function mismatches(mask, w, h, want, value = PAINTED) {
  const bad = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (want(x, y) !== (mask[y * w + x] === value)) bad.push([x, y]);
  return bad;
}

/** Asserts that every byte where `a` and `b` differ lies inside `rect`. */
function changesInside(a, b, w, rect) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const x = i % w;
    const y = Math.floor(i / w);
    assert.ok(x >= rect.x0 && x < rect.x1 && y >= rect.y0 && y < rect.y1, `pixel (${x}, ${y}) changed outside ${JSON.stringify(rect)}`);
  }
}

/** A small deterministic PRNG (mulberry32), so that failures can be reproduced. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A mask patterned with 0 and 255 so that restored bytes can be told apart. */
function patterned(w, h, seed) {
  const next = rng(seed);
  return Uint8Array.from({ length: w * h }, () => (next() < 0.5 ? 0 : PAINTED));
}

// --- stampDisc -----------------------------------------------------------------------------------

test('stampDisc: paints exactly the pixels whose centre is within the radius', () => {
  const w = 21;
  const h = 21;
  const mask = new Uint8Array(w * h);
  const rect = stampDisc(mask, w, h, 10, 10, 3, PAINTED);
  assert.deepEqual(mismatches(mask, w, h, (x, y) => inDisc(x, y, 10, 10, 3)), []);
  // Inside: (12, 10) has its centre 2.55 from (10, 10); (11, 11) 2.12.
  assert.equal(mask[10 * w + 12], PAINTED);
  assert.equal(mask[11 * w + 11], PAINTED);
  // Just outside: (13, 10) is 3.54 away, (12, 12) 3.54, (10, 13) 3.54.
  assert.equal(mask[10 * w + 13], 0);
  assert.equal(mask[12 * w + 12], 0);
  assert.equal(mask[13 * w + 10], 0);
  assert.equal(countPainted(mask), 32);
  changesInside(new Uint8Array(w * h), mask, w, rect);
  assert.deepEqual([rect.x0, rect.x1], [7, 13]);
});

test('stampDisc: a centre on a half pixel paints no row beyond the radius', () => {
  // Centre (5.5, 5.5), radius 2: row 8's pixel centres are 3 away or more, so it stays clear
  // (an earlier version painted (5, 8) there).
  const w = 12;
  const h = 12;
  const mask = new Uint8Array(w * h);
  stampDisc(mask, w, h, 5.5, 5.5, 2, PAINTED);
  assert.equal(mask[8 * w + 5], 0);
  assert.equal(mask[2 * w + 5], 0);
  assert.deepEqual(mismatches(mask, w, h, (x, y) => inDisc(x, y, 5.5, 5.5, 2)), []);
});

test('stampDisc: fractional centres and radii match the disc (seeded random cases, clipped at the edges)', () => {
  const next = rng(1234);
  const w = 17;
  const h = 13;
  for (let i = 0; i < 300; i++) {
    const cx = -3 + next() * (w + 6);
    const cy = -3 + next() * (h + 6);
    const r = 0.8 + next() * 6;
    const mask = new Uint8Array(w * h);
    const rect = stampDisc(mask, w, h, cx, cy, r, PAINTED);
    assert.deepEqual(mismatches(mask, w, h, (x, y) => inDisc(x, y, cx, cy, r)), [], `disc at (${cx}, ${cy}) r ${r}`);
    // Null exactly when nothing was painted (off the mask); otherwise it holds every change.
    assert.equal(rect === null, countPainted(mask) === 0, `disc at (${cx}, ${cy}) r ${r}`);
    if (rect) changesInside(new Uint8Array(w * h), mask, w, rect);
  }
});

test('stampDisc: a disc at the right edge does not spill into the next row', () => {
  const w = 8;
  const h = 8;
  const mask = new Uint8Array(w * h);
  stampDisc(mask, w, h, 7.9, 3.5, 2.2, PAINTED);
  assert.equal(mask[3 * w + 7], PAINTED);
  for (let y = 0; y < h; y++) for (const x of [0, 1, 2]) assert.equal(mask[y * w + x], 0, `pixel (${x}, ${y})`);
});

test('stampDisc: value 0 erases the disc and nothing else', () => {
  const w = 15;
  const h = 15;
  const mask = new Uint8Array(w * h).fill(PAINTED);
  stampDisc(mask, w, h, 7, 7, 2.5, 0);
  assert.deepEqual(mismatches(mask, w, h, (x, y) => inDisc(x, y, 7, 7, 2.5), 0), []);
  assert.equal(mask[7 * w + 7], 0);
  assert.equal(mask[7 * w + 10], PAINTED);
});

test('stampDisc: a brush smaller than a pixel paints the pixel under it; off the mask it paints nothing', () => {
  const w = 6;
  const h = 4;
  const mask = new Uint8Array(w * h);
  // r 0.1 around (2.05, 1.05) covers no pixel centre.
  assert.deepEqual(stampDisc(mask, w, h, 2.05, 1.05, 0.1, PAINTED), { x0: 2, y0: 1, x1: 3, y1: 2 });
  assert.equal(countPainted(mask), 1);
  assert.equal(mask[1 * w + 2], PAINTED);
  assert.equal(stampDisc(mask, w, h, -5, 2, 0.5, PAINTED), null);
  assert.equal(stampDisc(mask, w, h, 3, 40, 0.5, PAINTED), null);
  assert.equal(countPainted(mask), 1);
});

// --- stampLine -----------------------------------------------------------------------------------

test('stampLine: covers the stroke between the points, nothing farther than the radius, and not the start point', () => {
  const w = 30;
  const h = 20;
  const [ax, ay, bx, by, r] = [2, 3, 25, 15, 2];
  const mask = new Uint8Array(w * h);
  const rect = stampLine(mask, w, h, ax, ay, bx, by, r, PAINTED);
  changesInside(new Uint8Array(w * h), mask, w, rect);
  // Stamps are at most max(0.5, r/3) apart, starting one step from (ax, ay).
  const n = Math.ceil(Math.hypot(bx - ax, by - ay) / Math.max(0.5, r / 3));
  const [fx, fy] = [ax + (bx - ax) / n, ay + (by - ay) / n];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const painted = mask[y * w + x] === PAINTED;
      const d = segmentDistance(x + 0.5, y + 0.5, ax, ay, bx, by);
      if (painted) assert.ok(d <= r, `(${x}, ${y}) is ${d} from the stroke`);
      if (segmentDistance(x + 0.5, y + 0.5, fx, fy, bx, by) <= r * 0.95) assert.ok(painted, `(${x}, ${y}) on the stroke is unpainted`);
    }
  }
  // The start is left to the previous stamp: (0, 3) is 1.58 from (2, 3) but farther than r from the first stamp.
  assert.equal(mask[3 * w + 0], 0);
});

test('stampLine: a zero-length line stamps the end point once; erasing a line clears it', () => {
  const w = 12;
  const h = 12;
  const mask = new Uint8Array(w * h);
  stampLine(mask, w, h, 6, 6, 6, 6, 2, PAINTED);
  assert.deepEqual(mismatches(mask, w, h, (x, y) => inDisc(x, y, 6, 6, 2)), []);
  stampLine(mask, w, h, 0, 6, 11, 6, 3, 0);
  assert.equal(countPainted(mask), 0);
});

// --- counting, invert, rectangles ----------------------------------------------------------------

test('countPainted and invertMask: any non-zero byte counts and inverts to 0, 0 inverts to 255', () => {
  const mask = Uint8Array.from([0, 255, 7, 0, 1, 255]);
  assert.equal(countPainted(mask), 4);
  invertMask(mask);
  assert.deepEqual([...mask], [255, 0, 0, 255, 0, 0]);
  assert.equal(countPainted(mask), 2);
  const m = patterned(9, 7, 5);
  const copy = m.slice();
  invertMask(m);
  assert.equal(countPainted(m), m.length - countPainted(copy));
  invertMask(m);
  assert.deepEqual(m, copy);
});

test('unionRect: the bounding rectangle, and a copy of the added one when there is none yet', () => {
  const a = { x0: 2, y0: 5, x1: 4, y1: 9 };
  const u = unionRect(null, a);
  assert.deepEqual(u, a);
  assert.notEqual(u, a);
  assert.deepEqual(unionRect(a, { x0: 0, y0: 6, x1: 3, y1: 12 }), { x0: 0, y0: 5, x1: 4, y1: 12 });
});

// --- patches ---------------------------------------------------------------------------------------

test('cropPatch, paintedDelta and applyPatch: the rectangle’s bytes before and after, and writing them back', () => {
  const w = 10;
  const h = 8;
  const before = patterned(w, h, 1);
  const after = before.slice();
  const rect = stampDisc(after, w, h, 4, 4, 2.5, PAINTED);
  const p = cropPatch(before, after, w, rect);
  assert.deepEqual([p.x, p.y, p.w, p.h], [rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0]);
  for (let y = 0; y < p.h; y++) {
    for (let x = 0; x < p.w; x++) {
      assert.equal(p.before[y * p.w + x], before[(p.y + y) * w + p.x + x]);
      assert.equal(p.after[y * p.w + x], after[(p.y + y) * w + p.x + x]);
    }
  }
  assert.equal(paintedDelta(p), countPainted(after) - countPainted(before));
  assert.ok(paintedDelta(p) > 0);
  assert.equal(paintedDelta({ ...p, before: p.after, after: p.before }), -paintedDelta(p));
  const m = after.slice();
  applyPatch(m, w, p, p.before);
  assert.deepEqual(m, before);
  applyPatch(m, w, p, p.after);
  assert.deepEqual(m, after);
});

// --- MaskHistory ---------------------------------------------------------------------------------

/** Paints a stroke as the mask painter does (snapshot, stamps, patch of the dirty rectangle) and records it. */
function stroke(history, mask, w, h, points, r, value = PAINTED) {
  const snapshot = mask.slice();
  let dirty = stampDisc(mask, w, h, points[0][0], points[0][1], r, value);
  for (let i = 1; i < points.length; i++) {
    const rect = stampLine(mask, w, h, points[i - 1][0], points[i - 1][1], points[i][0], points[i][1], r, value);
    if (rect) dirty = unionRect(dirty, rect);
  }
  history.push(cropPatch(snapshot, mask, w, dirty));
}

test('MaskHistory: undo restores the exact previous bytes, redo re-applies them', () => {
  const w = 24;
  const h = 16;
  const mask = patterned(w, h, 9);
  const states = [mask.slice()];
  const history = new MaskHistory();
  assert.equal(history.canUndo, false);
  stroke(history, mask, w, h, [[3, 3], [20, 12]], 2);
  states.push(mask.slice());
  stroke(history, mask, w, h, [[10, 1], [10, 15]], 3, 0);
  states.push(mask.slice());
  assert.notDeepEqual(states[1], states[0]);
  assert.notDeepEqual(states[2], states[1]);
  assert.equal(history.undoSteps, 2);

  assert.ok(history.undo(mask, w));
  assert.deepEqual(mask, states[1]);
  assert.equal(history.canRedo, true);
  assert.ok(history.undo(mask, w));
  assert.deepEqual(mask, states[0]);
  assert.equal(history.canUndo, false);
  assert.equal(history.undo(mask, w), null);
  assert.deepEqual(mask, states[0]);

  assert.ok(history.redo(mask, w));
  assert.deepEqual(mask, states[1]);
  history.redo(mask, w);
  assert.deepEqual(mask, states[2]);
  assert.equal(history.canRedo, false);
  assert.equal(history.redo(mask, w), null);
  assert.deepEqual(mask, states[2]);
});

test('MaskHistory: a new step drops the undone steps; reset forgets everything', () => {
  const w = 8;
  const h = 8;
  const mask = new Uint8Array(w * h);
  const history = new MaskHistory();
  stroke(history, mask, w, h, [[2, 2]], 1.5);
  stroke(history, mask, w, h, [[6, 6]], 1.5);
  history.undo(mask, w);
  assert.equal(history.redoSteps, 1);
  stroke(history, mask, w, h, [[2, 6]], 1.5);
  assert.equal(history.canRedo, false);
  assert.equal(history.undoSteps, 2);
  history.reset();
  assert.equal(history.canUndo, false);
  assert.equal(history.canRedo, false);
});

test('MaskHistory: keeps at most maxSteps steps, dropping the oldest', () => {
  const w = 10;
  const h = 1;
  const mask = new Uint8Array(w * h);
  const history = new MaskHistory(Infinity, 3);
  const states = [mask.slice()];
  for (let i = 0; i < 5; i++) {
    stroke(history, mask, w, h, [[i * 2 + 0.5, 0.5]], 0.5);
    states.push(mask.slice());
  }
  assert.equal(history.undoSteps, 3);
  while (history.undo(mask, w));
  // The two oldest steps are gone: undoing everything stops at the mask after step 2.
  assert.deepEqual(mask, states[2]);
});

test('MaskHistory: keeps the undo steps within maxBytes (two copies each), but always the newest', () => {
  const patch = (n) => ({ x: 0, y: 0, w: n, h: 1, before: new Uint8Array(n), after: new Uint8Array(n) });
  const history = new MaskHistory(100, 1000);
  history.push(patch(20)); // 40 bytes
  history.push(patch(20)); // 80
  assert.equal(history.undoSteps, 2);
  history.push(patch(20)); // 120 > 100: the oldest goes
  assert.equal(history.undoSteps, 2);
  history.push(patch(500)); // alone over the limit, still kept
  assert.equal(history.undoSteps, 1);
  assert.equal(history.canUndo, true);
});

test('MaskHistory: the default keeps HISTORY_STEPS steps', () => {
  const history = new MaskHistory();
  for (let i = 0; i < HISTORY_STEPS + 5; i++) history.push({ x: 0, y: 0, w: 1, h: 1, before: new Uint8Array(1), after: new Uint8Array(1) });
  assert.equal(history.undoSteps, HISTORY_STEPS);
});

// --- display ---------------------------------------------------------------------------------------

test('displayScale and displaySize: full size up to DISPLAY_MAX, scaled down above, never below 1×1', () => {
  assert.equal(displayScale(640, 480), 1);
  assert.equal(displayScale(DISPLAY_MAX, 10), 1);
  assert.equal(displayScale(2 * DISPLAY_MAX, 100), 0.5);
  assert.deepEqual(displaySize(2 * DISPLAY_MAX, 101, 0.5), { width: DISPLAY_MAX, height: 51 });
  assert.deepEqual(displaySize(10000, 1, displayScale(10000, 1)), { width: DISPLAY_MAX, height: 1 });
  assert.equal(displayScale(300, 200, 100), 1 / 3);
});

test('fitBox: fits the width and the height limit, floors, and is pixelated above 1.5×', () => {
  assert.deepEqual(fitBox(100, 50, 400, 100), { width: 200, height: 100, pixelated: true });
  assert.deepEqual(fitBox(100, 50, 150, 1000), { width: 150, height: 75, pixelated: false });
  assert.deepEqual(fitBox(1000, 3000, 800, 500), { width: 166, height: 500, pixelated: false });
  assert.deepEqual(fitBox(1000, 1, 0.2, 500), { width: 1, height: 1, pixelated: false });
});

test('displayArea: the covering display pixels, clipped to the canvas; null when empty', () => {
  assert.deepEqual(displayArea(3, 4, 5, 6, 1, 100, 100), { x: 3, y: 4, w: 5, h: 6 });
  assert.deepEqual(displayArea(3, 5, 4, 4, 0.5, 100, 100), { x: 1, y: 2, w: 3, h: 3 });
  assert.deepEqual(displayArea(90, 90, 20, 20, 1, 100, 95), { x: 90, y: 90, w: 10, h: 5 });
  assert.equal(displayArea(3, 4, 0, 6, 1, 100, 100), null);
  assert.equal(displayArea(120, 4, 5, 6, 1, 100, 100), null);
});

test('overlayPixels: painted pixels become the colour, opaque; the others stay clear', () => {
  const w = 4;
  const h = 3;
  const mask = new Uint8Array(w * h);
  mask[1 * w + 2] = PAINTED;
  mask[2 * w + 0] = PAINTED;
  const area = { x: 1, y: 1, w: 3, h: 2 };
  const out = new Uint8ClampedArray(area.w * area.h * 4);
  overlayPixels(out, mask, w, h, 1, area, [10, 20, 30]);
  const px = (x, y) => [...out.subarray((y * area.w + x) * 4, (y * area.w + x) * 4 + 4)];
  assert.deepEqual(px(1, 0), [10, 20, 30, 255]); // mask (2, 1)
  assert.deepEqual(px(0, 0), [0, 0, 0, 0]);
  assert.deepEqual(px(0, 1), [0, 0, 0, 0]); // mask (1, 2); (0, 2) lies outside the area
  assert.equal(out.filter((v, i) => i % 4 === 3 && v === 255).length, 1);
});

test('overlayPixels: at scale 0.5 each display pixel shows its nearest mask pixel', () => {
  const w = 4;
  const h = 4;
  const mask = new Uint8Array(w * h);
  mask[1 * w + 3] = PAINTED; // display pixel (1, 0) samples mask (floor(1.5 / 0.5), floor(0.5 / 0.5)) = (3, 1)
  mask[0 * w + 0] = PAINTED; // display (0, 0) samples mask (1, 1): not painted
  const area = { x: 0, y: 0, w: 2, h: 2 };
  const out = new Uint8ClampedArray(16);
  overlayPixels(out, mask, w, h, 0.5, area, [1, 2, 3]);
  assert.deepEqual([...out.subarray(4, 8)], [1, 2, 3, 255]);
  assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 0]);
  assert.equal(out[11], 0);
  assert.equal(out[15], 0);
});

// --- brush, options and keys ---------------------------------------------------------------------

test('clampBrushSize, clampOpacity and defaultMaxHeight keep their ranges', () => {
  assert.equal(clampBrushSize(0), MIN_BRUSH);
  assert.equal(clampBrushSize(1e6), MAX_BRUSH);
  assert.equal(clampBrushSize(40 * 1.25), 50);
  assert.equal(clampBrushSize(40 / 1.25), 32);
  assert.equal(clampBrushSize(12.5), 13);
  assert.equal(clampOpacity(-1), 0);
  assert.equal(clampOpacity(2), 1);
  assert.equal(clampOpacity(0.3), 0.3);
  assert.equal(defaultMaxHeight(100), 240);
  assert.equal(defaultMaxHeight(800), 520);
  assert.equal(defaultMaxHeight(2000), 720);
});

test('brushAt: pointer position and brush radius in mask pixels; pen pressure scales the radius', () => {
  // A 200×100 mask shown 100×50: two mask pixels per CSS pixel.
  assert.deepEqual(brushAt(10, 5, 100, 50, 200, 100, 40), { x: 20, y: 10, r: 40 });
  assert.deepEqual(brushAt(10, 5, 100, 50, 200, 100, 40, 0.5), { x: 20, y: 10, r: 20 });
  assert.deepEqual(brushAt(0, 0, 100, 50, 200, 100, 40, 0.01), { x: 0, y: 0, r: 40 * 0.15 });
  assert.equal(brushAt(0, 0, 100, 50, 200, 100, 40, 0).r, 40);
  // Never below half a pixel.
  assert.equal(brushAt(0, 0, 1000, 1000, 10, 10, 2).r, 0.5);
});

test('maskKeyAction: the shortcuts of the mask painter', () => {
  assert.equal(maskKeyAction('z', true, false, false), 'undo');
  assert.equal(maskKeyAction('Z', true, true, false), 'redo');
  assert.equal(maskKeyAction('y', true, false, false), 'redo');
  assert.equal(maskKeyAction('[', false, false, false), 'smaller');
  assert.equal(maskKeyAction(']', false, false, false), 'larger');
  assert.equal(maskKeyAction('E', false, true, false), 'eraser');
  assert.equal(maskKeyAction('b', false, false, false), 'brush');
  assert.equal(maskKeyAction('z', false, false, false), null);
  assert.equal(maskKeyAction('b', true, false, false), null);
  assert.equal(maskKeyAction('e', false, false, true), null);
  assert.equal(maskKeyAction('Enter', false, false, false), null);
});
