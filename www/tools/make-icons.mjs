// Writes the app icons into www/static/icons/: icon.svg and maskable-safe PNGs (192, 512).
// The PNGs are drawn here with 4×4 supersampling and encoded by png-encode.mjs (node's zlib),
// so no image tool or dependency is needed.   node www/tools/make-icons.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from './png-encode.mjs';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '../static/icons');
const TOP = [91, 91, 214]; // #5b5bd6
const BOTTOM = [219, 39, 119]; // #db2777

// The shape in unit coordinates (0..1): a four-pointed sparkle and a small one, both inside the
// maskable safe zone (a centred circle of radius 0.4).
function star(x, y, cx, cy, r, waist) {
  const dx = Math.abs(x - cx) / r;
  const dy = Math.abs(y - cy) / r;
  // Astroid-like: |dx|^p + |dy|^p <= 1 with p < 1 gives concave sides.
  return Math.pow(dx, waist) + Math.pow(dy, waist) <= 1;
}
const inside = (x, y) => star(x, y, 0.46, 0.54, 0.3, 0.55) || star(x, y, 0.7, 0.3, 0.11, 0.55);

function png(size) {
  const ss = 4; // 4×4 supersampling
  return encodePng(
    size,
    size,
    (x, y) => {
      let cover = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          if (inside((x + (sx + 0.5) / ss) / size, (y + (sy + 0.5) / ss) / size)) cover++;
        }
      }
      const a = cover / (ss * ss);
      const t = (x + y) / (2 * size);
      const rgb = [0, 1, 2].map((i) => TOP[i] * (1 - t) + BOTTOM[i] * t).map((bg) => bg * (1 - a) + 255 * a);
      return [...rgb, 255];
    },
    { level: 9 },
  );
}

function starPath(cx, cy, r) {
  // The same concave four-pointed star as quadratic curves through the centre.
  const p = (x, y) => `${(x * 64).toFixed(2)} ${(y * 64).toFixed(2)}`;
  const k = r * 0.12;
  return `M${p(cx, cy - r)} Q${p(cx + k, cy - k)} ${p(cx + r, cy)} Q${p(cx + k, cy + k)} ${p(cx, cy + r)} Q${p(cx - k, cy + k)} ${p(cx - r, cy)} Q${p(cx - k, cy - k)} ${p(cx, cy - r)}Z`;
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#5b5bd6"/><stop offset="1" stop-color="#db2777"/></linearGradient></defs>
  <rect width="64" height="64" rx="14" fill="url(#g)"/>
  <path fill="#fff" d="${starPath(0.46, 0.54, 0.3)} ${starPath(0.7, 0.3, 0.11)}"/>
</svg>
`;

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'icon.svg'), svg);
for (const size of [192, 512]) writeFileSync(join(OUT, `icon-${size}.png`), png(size));
console.log(`icons written to ${OUT}`);
