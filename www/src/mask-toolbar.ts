// The toolbar of a mask painter (www/src/mask-canvas.ts): brush/eraser, brush size, overlay
// opacity, undo, redo, clear and invert, kept in step with the painter's 'change' events.

import type { MaskCanvas } from './mask-canvas.js';
import { MAX_BRUSH, MIN_BRUSH, type MaskTool } from './mask-raster.js';

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
  const size = range(`${prefix}-size`, 'Size', MIN_BRUSH, MAX_BRUSH, mc.size, (v) => mc.setSize(v));
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
