// The subject image: its image slot, and its background (keep the photo, use its transparency,
// or paint the subject) with the whitened preview of what the model will see.

import { $, show } from '../dom.js';
import { maskFromAlpha, whitenOutside } from '../image.js';
import { MaskCanvas, createMaskToolbar } from '../mask-canvas.js';
import type { MaskImage } from '../protocol.js';
import { ImageSlot } from './image-slot.js';
import type { InputDeps } from './source-input.js';

/** Subjects with a side shorter than this (px) get a warning (they are still accepted). */
export const MIN_SUBJECT_SIDE = 64;

/** The subject image and its background choice. */
export interface SubjectInput {
  slot: ImageSlot;
  /** The painted subject (used when the background is "paint"). */
  canvas: MaskCanvas;
  /** The background is removed by painting the subject. */
  painting(): boolean;
  /** The subject mask that goes to the model (null: keep the whole photo). */
  mask(): MaskImage | null;
}

/** Creates the subject input (#subject-…) and its mask painter (#smask-…). */
export function createSubjectInput(deps: InputDeps): SubjectInput {
  const { keys, refresh } = deps;
  const bg = $<HTMLSelectElement>('subject-bg');
  const painting = () => bg.value === 'paint';
  const canvas = new MaskCanvas({
    label: 'Subject photo; paint the subject to keep',
    color: [34, 197, 94],
    // Small while only shown, large while painting.
    maxHeight: () => (painting() ? Math.max(240, Math.min(window.innerHeight * 0.65, 720)) : 260),
  });
  $('subject-host').append(canvas.element);
  $('smask-toolbar-host').append(createMaskToolbar('smask', canvas, 'Subject mask'));
  canvas.attached();
  keys.track(canvas, $('smask-toolbar-host'));
  let previewFrame = 0;
  canvas.addEventListener('change', (ev) => {
    const kind = (ev as CustomEvent<string>).detail;
    if (kind === 'size' || kind === 'tool' || kind === 'opacity') return;
    cancelAnimationFrame(previewFrame);
    previewFrame = requestAnimationFrame(updatePreview);
    refresh();
  });

  const slot = new ImageSlot({
    prefix: 'subject',
    canvas,
    removable: true,
    inUse: deps.inUse,
    onLoad: (img) => {
      bg.value = img.hasAlpha ? 'alpha' : 'keep';
      setBackground(img.hasAlpha ? 'alpha-auto' : bg.value);
    },
    onChange: () => {
      warnIfSmall();
      refresh();
    },
  });

  /** A subject this small is accepted, but the user is told the result will suffer. */
  function warnIfSmall(): void {
    const img = slot.image;
    const small = img !== null && Math.min(img.rgba.width, img.rgba.height) < MIN_SUBJECT_SIDE;
    const note = $('subject-warning');
    note.textContent = small
      ? `This subject is only ${img.rgba.width} × ${img.rgba.height} px; results will be poor — use a larger photo (${MIN_SUBJECT_SIDE} px or more on each side, ideally about 512).`
      : '';
    show(note, small);
  }

  /** `value`: a background option, or 'alpha-auto' when transparency was picked for the user. */
  function setBackground(value: string): void {
    const auto = value === 'alpha-auto';
    const mode = auto ? 'alpha' : value;
    const note = $('subject-bg-note');
    const img = slot.image;
    let text = '';
    if (img && mode === 'alpha') {
      text = img.hasAlpha
        ? auto
          ? 'This image has transparency: its transparent parts will become white background.'
          : 'Transparent parts will become white background.'
        : 'This image has no transparent pixels, so nothing would be removed. Paint the subject instead, or use a PNG/WebP with transparency.';
    } else if (img && mode === 'paint') {
      text = 'Paint over the subject; everything you do not paint becomes white.';
    }
    note.textContent = text;
    show(note, !!text);
    show($('subject-paint'), mode === 'paint');
    canvas.element.classList.toggle('view-only', mode !== 'paint');
    if (mode === 'paint') keys.activate(canvas);
    canvas.fit();
    updatePreview();
    refresh();
  }
  bg.addEventListener('change', (ev) => setBackground((ev.target as HTMLSelectElement).value));

  function mask(): MaskImage | null {
    const img = slot.image;
    if (!img) return null;
    if (bg.value === 'paint') return canvas.getMask();
    if (bg.value === 'alpha' && img.hasAlpha) return maskFromAlpha(img.rgba);
    return null;
  }

  function updatePreview(): void {
    const fig = $('subject-preview-fig');
    const img = slot.image;
    const m = img ? mask() : null;
    if (!img || !m || !m.data.some((v) => v !== 0)) {
      show(fig, false);
      return;
    }
    const preview = $<HTMLCanvasElement>('subject-preview');
    preview.width = img.rgba.width;
    preview.height = img.rgba.height;
    preview.getContext('2d')!.putImageData(whitenOutside(img.rgba, m), 0, 0);
    show(fig, true);
  }

  return { slot, canvas, painting, mask };
}
