// The image inputs together: the photo to edit and the subject's photos, pasting an image into the
// right one, the mask shortcuts, and keeping dropped files from navigating away.

import type { CoreDecoder, DecodedImage } from '../image.js';
import type { MaskCanvas } from '../mask-canvas.js';
import { MaskKeys } from './mask-keys.js';
import { createSourceInput, type SourceInput } from './source-input.js';
import { state } from './state.js';
import { createSubjectInput, type SubjectInput } from './subject-input.js';

/** The page's image inputs. */
export interface Inputs {
  source: SourceInput;
  subject: SubjectInput;
}

/** Creates both image inputs and the page-wide paste, drop and shortcut handling. */
export function createInputs(deps: { decode: CoreDecoder; inUse(img: DecodedImage): boolean; refresh(): void }): Inputs {
  // Files dropped anywhere else must not make the browser navigate away from the app.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  const keys = new MaskKeys();
  const source = createSourceInput({ keys, ...deps });
  const subject = createSubjectInput({ keys, ...deps });

  // Paste an image from the clipboard: into the focused section, else where it is missing.
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    const images = files.filter((f) => f.type.startsWith('image/'));
    const file = images[0] ?? files[0];
    if (!file) return;
    e.preventDefault();
    const focused = document.activeElement;
    let target: 'source' | 'subject';
    if (focused && source.slot.section.contains(focused) && state.mode === 'edit') target = 'source';
    else if (focused && subject.section.contains(focused)) target = 'subject';
    else if (state.mode === 'edit' && !source.slot.image) target = 'source';
    else target = 'subject';
    // The subject takes every pasted image (it holds several photos), the photo to edit one.
    void (target === 'source' ? source.slot.load(file) : subject.add(images.length ? images : [file]));
  });

  keys.listen(() => {
    const masks: MaskCanvas[] = [];
    if (state.mode === 'edit' && source.slot.image) masks.push(source.canvas);
    const painting = subject.paintingCanvas();
    if (painting) masks.push(painting);
    return masks;
  });

  return { source, subject };
}
