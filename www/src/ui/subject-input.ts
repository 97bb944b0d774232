// The subject: a list of 1 to MAX_SUBJECTS photos of the same subject (added with the file
// chooser, by dropping or pasting; each removable and movable up or down, as the model reads
// them in this order), and the editor of the selected photo: its background (keep the photo, use
// its transparency, or paint the subject) with the whitened preview of what the model will see.
// Every photo keeps its own background choice and painted mask.

import { $, fieldError, show } from '../dom.js';
import { ImageInputError, copyRgba, decodeImageFile, maskFromAlpha, whitenOutside, type DecodedImage } from '../image.js';
import { MaskCanvas, createMaskToolbar } from '../mask-canvas.js';
import { MAX_SUBJECTS, type MaskImage, type SubjectPhoto } from '../protocol.js';
import { wireFileSource } from './image-slot.js';
import type { InputDeps } from './source-input.js';

/** Subjects with a side shorter than this (px) get a warning (they are still accepted). */
export const MIN_SUBJECT_SIDE = 64;

/** Longest side of a photo's thumbnail in the list (px). */
const THUMB_SIDE = 96;

/** How a photo's background is treated: kept, removed by painting, or by its transparency. */
type Background = 'keep' | 'paint' | 'alpha';

/** What the list says about each background choice. */
const BACKGROUND_WORDS: Record<Background, string> = {
  keep: 'whole photo',
  paint: 'subject painted',
  alpha: 'transparency removed',
};

/** One photo of the subject in the list. */
interface Photo {
  img: DecodedImage;
  /** Shows the photo; the painted subject when the background is "paint". */
  canvas: MaskCanvas;
  /** The painter's toolbar (shown in #smask-toolbar-host while this photo is selected). */
  toolbar: HTMLElement;
  background: Background;
  /** Transparency was chosen for the user when the photo was added (the note says so). */
  autoAlpha: boolean;
  /** The photo drawn small for the list. */
  thumb: HTMLCanvasElement;
}

/** The subject's photos and their backgrounds. */
export interface SubjectInput {
  /** The section (a paste goes here while it holds the focus). */
  section: HTMLElement;
  /** How many photos the list holds. */
  count(): number;
  /** Adds photos at the end of the list; those beyond MAX_SUBJECTS are refused with a message. */
  add(files: File[]): Promise<void>;
  /** The selected photo's painter while its subject is being painted, else null. */
  paintingCanvas(): MaskCanvas | null;
  /** The number (from 1) of the first photo whose subject is to be painted but is not yet, or null. */
  unpainted(): number | null;
  /** Copies of the photos with their masks, in the list's order, ready to transfer to the worker. */
  photos(): SubjectPhoto[];
}

/** The mask that goes to the model with `p` (null: keep the whole photo). */
function maskOf(p: Photo): MaskImage | null {
  if (p.background === 'paint') return p.canvas.getMask();
  if (p.background === 'alpha' && p.img.hasAlpha) return maskFromAlpha(p.img.rgba);
  return null;
}

/** Creates the subject list (#subject-…) and the selected photo's mask painter (#smask-…). */
export function createSubjectInput(deps: InputDeps): SubjectInput {
  const { keys, refresh } = deps;
  const section = $('subject-section');
  const list = $<HTMLOListElement>('subject-list');
  const bg = $<HTMLSelectElement>('subject-bg');
  const photos: Photo[] = [];
  let selected = -1;
  /** Adding is done one batch at a time, so photos keep the order they were given in. */
  let queue: Promise<void> = Promise.resolve();

  const current = (): Photo | null => photos[selected] ?? null;
  const announce = (text: string) => {
    $('subject-status').textContent = text;
  };

  // A press on the toolbar makes the selected photo's painter the one the shortcuts go to.
  $('smask-toolbar-host').addEventListener('pointerdown', () => {
    const p = current();
    if (p) keys.activate(p.canvas);
  });

  /** A photo's painter and toolbar, and its thumbnail. */
  function makePhoto(img: DecodedImage): Photo {
    const canvas: MaskCanvas = new MaskCanvas({
      label: 'Subject photo; paint the subject to keep',
      color: [34, 197, 94],
      // Small while only shown, large while painting.
      maxHeight: (): number =>
        canvas.element.classList.contains('view-only') ? 260 : Math.max(240, Math.min(window.innerHeight * 0.65, 720)),
    });
    const toolbar = createMaskToolbar('smask', canvas, 'Subject mask');
    canvas.addEventListener('strokestart', () => keys.activate(canvas));
    let previewFrame = 0;
    canvas.addEventListener('change', (ev) => {
      const kind = (ev as CustomEvent<string>).detail;
      if (kind === 'size' || kind === 'tool' || kind === 'opacity' || kind === 'image') return;
      if (current()?.canvas !== canvas) return;
      cancelAnimationFrame(previewFrame);
      previewFrame = requestAnimationFrame(updatePreview);
      refresh();
    });
    canvas.element.classList.add('view-only');
    canvas.setImage(img.bitmap, img.rgba.width, img.rgba.height);
    // The thumbnail only displays: the photo scaled to THUMB_SIDE on its longer side.
    const thumb = document.createElement('canvas');
    const k = Math.min(1, THUMB_SIDE / Math.max(img.rgba.width, img.rgba.height));
    thumb.width = Math.max(1, Math.round(img.rgba.width * k));
    thumb.height = Math.max(1, Math.round(img.rgba.height * k));
    thumb.getContext('2d')!.drawImage(img.bitmap, 0, 0, thumb.width, thumb.height);
    thumb.className = 'subject-thumb';
    thumb.setAttribute('aria-hidden', 'true');
    return { img, canvas, toolbar, background: img.hasAlpha ? 'alpha' : 'keep', autoAlpha: img.hasAlpha, thumb };
  }

  /** Frees a photo's bitmap unless something else still shows it. */
  function release(p: Photo): void {
    if (!deps.inUse(p.img)) p.img.bitmap.close();
  }

  /** Decodes `file` as photo `n` (from 1); throws a message that names the photo. */
  async function decode(file: File, n: number): Promise<DecodedImage> {
    try {
      return await decodeImageFile(file, deps.decode);
    } catch (e) {
      const why = e instanceof ImageInputError ? e.message : `${file.name || 'the file'}: ${(e as Error).message}`;
      throw new ImageInputError(`Photo ${n} could not be read: ${why}`);
    }
  }

  function add(files: File[]): Promise<void> {
    const batch = queue.then(async () => {
      fieldError('subject-error', null);
      const errors: string[] = [];
      const refused: string[] = [];
      let added = 0;
      for (const file of files) {
        if (photos.length >= MAX_SUBJECTS) {
          refused.push(file.name || 'a pasted image');
          continue;
        }
        let img: DecodedImage;
        try {
          img = await decode(file, photos.length + 1);
        } catch (e) {
          errors.push((e as Error).message);
          continue;
        }
        photos.push(makePhoto(img));
        added++;
      }
      if (refused.length) {
        errors.push(
          `At most ${MAX_SUBJECTS} photos of the subject can be used: ${refused.join(', ')} ${refused.length === 1 ? 'was' : 'were'} not added. Remove a photo to add another.`,
        );
      }
      if (errors.length) fieldError('subject-error', errors.join(' '));
      if (added) {
        select(photos.length - 1);
        announce(`${added === 1 ? `Photo ${photos.length} added` : `${added} photos added`}; ${photos.length} of ${MAX_SUBJECTS}.`);
      }
    });
    queue = batch.catch(() => undefined);
    return batch;
  }

  /** Replaces the selected photo with `file` (its place in the list is kept). */
  async function replace(file: File): Promise<void> {
    const i = selected;
    if (!photos[i]) return;
    fieldError('subject-error', null);
    let img: DecodedImage;
    try {
      img = await decode(file, i + 1);
    } catch (e) {
      fieldError('subject-error', `${(e as Error).message} The photo was kept.`);
      return;
    }
    const old = photos[i];
    photos[i] = makePhoto(img);
    release(old);
    select(i);
    announce(`Photo ${i + 1} replaced.`);
  }

  /**
   * Removes photo `i` (from 0); the one after it (or before, at the end) is selected. `fromList`:
   * the list's own button was pressed, so the focus moves to the selected photo's entry.
   */
  function remove(i: number, fromList: boolean): void {
    const [gone] = photos.splice(i, 1);
    if (!gone) return;
    release(gone);
    fieldError('subject-error', null);
    announce(`Photo ${i + 1} removed; ${photos.length} of ${MAX_SUBJECTS} left.`);
    select(Math.min(i, photos.length - 1));
    if (!photos.length) $('subject-drop').focus();
    else if (fromList) list.children[selected]?.querySelector<HTMLButtonElement>('.subject-pick')?.focus();
  }

  /** Moves photo `i` one place up (`by` -1) or down (+1); keeps the focus on the pressed button. */
  function move(i: number, by: -1 | 1, action: 'up' | 'down'): void {
    const j = i + by;
    if (j < 0 || j >= photos.length) return;
    [photos[i], photos[j]] = [photos[j], photos[i]];
    if (selected === i) selected = j;
    else if (selected === j) selected = i;
    render();
    announce(`Photo moved to place ${j + 1} of ${photos.length}.`);
    // The same button of the moved photo, or the other one when this end of the list is reached.
    const row = list.children[j] as HTMLElement | undefined;
    const same = row?.querySelector<HTMLButtonElement>(`button[data-action="${action}"]`);
    const other = row?.querySelector<HTMLButtonElement>(`button[data-action="${action === 'up' ? 'down' : 'up'}"]`);
    (same && !same.disabled ? same : other && !other.disabled ? other : row?.querySelector<HTMLButtonElement>('.subject-pick'))?.focus();
  }

  /** Shows photo `i` (from 0; -1: none) in the editor. */
  function select(i: number): void {
    selected = i;
    const p = current();
    const host = $('subject-host');
    const bar = $('smask-toolbar-host');
    if (p) {
      if (p.canvas.element.parentElement !== host) host.replaceChildren(p.canvas.element);
      if (p.toolbar.parentElement !== bar) bar.replaceChildren(p.toolbar);
      p.canvas.attached();
      bg.value = p.background;
    } else {
      host.replaceChildren();
      bar.replaceChildren();
    }
    render();
    applyBackground();
  }

  /** Redraws the list, the counter, the add button and the selected photo's line. */
  function render(): void {
    const n = photos.length;
    list.replaceChildren(...photos.map((p, i) => row(p, i)));
    show(list, n > 0);
    show($('subject-drop'), n === 0);
    show($('subject-editor'), n > 0);
    show($('subject-replace'), n > 0);
    show($('subject-remove'), n > 0);
    show($('subject-add'), n > 0 && n < MAX_SUBJECTS);
    $('subject-count').textContent = n > 0 ? `${n} of ${MAX_SUBJECTS} photos` : '';
    section.dataset.count = String(n);
    const p = current();
    if (p) {
      $('subject-meta').textContent = `Photo ${selected + 1} · ${p.img.name} · ${p.img.rgba.width} × ${p.img.rgba.height} px`;
      $('subject-replace').setAttribute('aria-label', `Replace photo ${selected + 1}`);
      $('subject-remove').setAttribute('aria-label', `Remove photo ${selected + 1}`);
    }
    warnIfSmall();
  }

  /** The list entry of photo `i`: select it, move it up or down, remove it. */
  function row(p: Photo, i: number): HTMLLIElement {
    const n = i + 1;
    const li = document.createElement('li');
    li.className = 'subject-item';
    li.dataset.index = String(i);
    li.dataset.name = p.img.name;
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.className = 'subject-pick';
    pick.setAttribute('aria-pressed', String(i === selected));
    const small = Math.min(p.img.rgba.width, p.img.rgba.height) < MIN_SUBJECT_SIDE;
    const name = document.createElement('span');
    name.className = 'subject-name';
    name.textContent = `${n}. ${p.img.name}`;
    const meta = document.createElement('span');
    meta.className = 'hint';
    meta.textContent = `${p.img.rgba.width} × ${p.img.rgba.height} px${small ? ' · small' : ''} · ${BACKGROUND_WORDS[p.background]}`;
    const text = document.createElement('span');
    text.className = 'subject-text';
    text.append(name, meta);
    pick.append(p.thumb, text);
    pick.setAttribute('aria-label', `Photo ${n}: ${p.img.name}, ${p.img.rgba.width} × ${p.img.rgba.height} px, ${BACKGROUND_WORDS[p.background]}. Show it to set its background.`);
    pick.addEventListener('click', () => select(i));
    const actions = document.createElement('span');
    actions.className = 'subject-actions';
    const button = (action: 'up' | 'down' | 'remove', symbol: string, label: string, disabled: boolean, onClick: () => void) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = action === 'remove' ? 'icon danger-ghost' : 'icon';
      b.dataset.action = action;
      b.textContent = symbol;
      b.title = label;
      b.setAttribute('aria-label', label);
      b.disabled = disabled;
      b.addEventListener('click', onClick);
      return b;
    };
    actions.append(
      button('up', '↑', `Move photo ${n} up`, i === 0, () => move(i, -1, 'up')),
      button('down', '↓', `Move photo ${n} down`, i === photos.length - 1, () => move(i, 1, 'down')),
      button('remove', '✕', `Remove photo ${n}`, false, () => remove(i, true)),
    );
    li.append(pick, actions);
    if (i === selected) li.setAttribute('aria-current', 'true');
    return li;
  }

  /** A photo this small is accepted, but the user is told the result will suffer. */
  function warnIfSmall(): void {
    const p = current();
    const img = p?.img;
    const small = !!img && Math.min(img.rgba.width, img.rgba.height) < MIN_SUBJECT_SIDE;
    const note = $('subject-warning');
    const what = photos.length > 1 ? `Photo ${selected + 1}` : 'This subject';
    note.textContent = small
      ? `${what} is only ${img.rgba.width} × ${img.rgba.height} px; results will be poor — use a larger photo (${MIN_SUBJECT_SIDE} px or more on each side, ideally about 512).`
      : '';
    show(note, small);
  }

  /** Shows the selected photo's background choice: its note, the painter, the preview. */
  function applyBackground(): void {
    const p = current();
    const mode = p?.background ?? 'keep';
    const note = $('subject-bg-note');
    let text = '';
    if (p && mode === 'alpha') {
      text = p.img.hasAlpha
        ? p.autoAlpha
          ? 'This image has transparency: its transparent parts will become white background.'
          : 'Transparent parts will become white background.'
        : 'This image has no transparent pixels, so nothing would be removed. Paint the subject instead, or use a PNG/WebP with transparency.';
    } else if (p && mode === 'paint') {
      text = 'Paint over the subject; everything you do not paint becomes white.';
    }
    note.textContent = text;
    show(note, !!text);
    show($('subject-paint'), !!p && mode === 'paint');
    if (p) {
      p.canvas.element.classList.toggle('view-only', mode !== 'paint');
      if (mode === 'paint') keys.activate(p.canvas);
      p.canvas.fit();
    }
    updatePreview();
    refresh();
  }

  bg.addEventListener('change', () => {
    const p = current();
    if (!p) return;
    p.background = bg.value as Background;
    p.autoAlpha = false;
    render();
    applyBackground();
  });

  function updatePreview(): void {
    const fig = $('subject-preview-fig');
    const p = current();
    const m = p ? maskOf(p) : null;
    if (!p || !m || !m.data.some((v) => v !== 0)) {
      show(fig, false);
      return;
    }
    const preview = $<HTMLCanvasElement>('subject-preview');
    preview.width = p.img.rgba.width;
    preview.height = p.img.rgba.height;
    preview.getContext('2d')!.putImageData(whitenOutside(p.img.rgba, m), 0, 0);
    show(fig, true);
  }

  wireFileSource(
    { zone: $('subject-drop'), input: $<HTMLInputElement>('subject-file'), section },
    (files) => void add(files),
    (text) => fieldError('subject-error', text),
  );
  $('subject-add').addEventListener('click', () => $<HTMLInputElement>('subject-file').click());
  $('subject-replace').addEventListener('click', () => $<HTMLInputElement>('subject-replace-file').click());
  const replaceInput = $<HTMLInputElement>('subject-replace-file');
  replaceInput.addEventListener('change', () => {
    const f = replaceInput.files?.[0];
    replaceInput.value = '';
    if (f) void replace(f);
  });
  $('subject-remove').addEventListener('click', () => remove(selected, false));
  render();

  return {
    section,
    count: () => photos.length,
    add,
    paintingCanvas: () => {
      const p = current();
      return p && p.background === 'paint' ? p.canvas : null;
    },
    unpainted: () => {
      const i = photos.findIndex((p) => p.background === 'paint' && p.canvas.paintedPixels === 0);
      return i < 0 ? null : i + 1;
    },
    photos: () => photos.map((p) => ({ image: copyRgba(p.img.rgba), mask: maskOf(p) })),
  };
}
