// "Convert the original weights here": the three folder choosers (SD 2.1-base, the EZIGen
// checkpoint, CLIP ViT-B/32) whose files the worker converts with the core's converter. The
// page only collects the files and their paths inside each chosen folder; what they must hold,
// and every refusal, is the core's.

import { $ } from '../dom.js';
import type { PickedWeightFile, SourceRoot } from '../protocol.js';

const ROOTS: readonly SourceRoot[] = ['sd', 'ezigen', 'clip'];

/** The picker's operations. */
export interface ConvertPicker {
  /** Every picked file of the three folders, or null while a folder is missing. */
  files(): PickedWeightFile[] | null;
  /** Shows the conversion's state under the choosers. */
  note(text: string): void;
}

/** A picked file's path inside the chosen folder (the browser prefixes the folder's own name). */
function insideFolder(f: File): { folder: string; path: string } {
  const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
  const cut = rel.indexOf('/');
  return cut < 0 ? { folder: '', path: rel } : { folder: rel.slice(0, cut), path: rel.slice(cut + 1) };
}

/** Wires the choosers; `onStart` gets the picked files when “Convert and load” is pressed. */
export function createConvertPicker(onStart: (files: PickedWeightFile[]) => void): ConvertPicker {
  const picked = new Map<SourceRoot, PickedWeightFile[]>();
  const start = $<HTMLButtonElement>('convert-start');
  const files = () => (ROOTS.every((r) => picked.has(r)) ? ROOTS.flatMap((r) => picked.get(r)!) : null);

  for (const root of ROOTS) {
    const input = $<HTMLInputElement>(`convert-${root}`);
    $(`convert-${root}-button`).addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const chosen = [...(input.files ?? [])];
      input.value = '';
      if (chosen.length === 0) return;
      const list = chosen.map((file) => ({ root, file, ...insideFolder(file) }));
      picked.set(root, list.map(({ root, path, file }) => ({ root, path, file })));
      const name = $(`convert-${root}-name`);
      name.textContent = `${list[0].folder || 'chosen'}/ · ${list.length} file${list.length === 1 ? '' : 's'}`;
      name.dataset.chosen = 'true';
      start.disabled = files() === null;
    });
  }
  start.addEventListener('click', () => {
    const all = files();
    if (all) onStart(all);
  });
  return {
    files,
    note: (text) => {
      $('convert-status').textContent = text;
    },
  };
}
