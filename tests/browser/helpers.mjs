// Shared helpers of the browser tests: the static server, Chromium launch (Debian's Chromium,
// never a downloaded browser) and the native CLI as the CPU oracle.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { transformSync } from 'esbuild';
import { chromium } from 'playwright-core';
import { serve } from '../../www/serve.mjs';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);

/**
 * The generated Rust↔page contract (www/src/generated/contract.ts: COMPONENTS, LIMITS, …) as a
 * module, so the tests use the Rust-defined lists rather than copies of them.
 */
export const contract = await import(
  'data:text/javascript,' +
    encodeURIComponent(transformSync(readFileSync(join(ROOT, 'www/src/generated/contract.ts'), 'utf8'), { loader: 'ts' }).code)
);
export const ARTIFACTS = join(ROOT, 'tests/browser/artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Serves dist/ on a free port; returns { url, close }. */
export async function serveDist() {
  const server = await serve({ dir: join(ROOT, 'dist'), port: 0 });
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

/**
 * Launches headless Chromium. With `webgpu` it gets the SwiftShader WebGPU adapter; without,
 * it is a stock headless Chromium that offers no adapter.
 */
export async function launch({ webgpu = true } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'ezigen-chromium-'));
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 800 },
  });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

/** Collects console messages and page errors, for failure reports. */
export function watchConsole(page) {
  const lines = [];
  page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
  return lines;
}

/** Runs the native CLI (release build) and returns its stdout parsed as JSON. */
export function cli(...args) {
  const bin = join(ROOT, 'target/release/ezigen');
  const out = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (out.status !== 0) throw new Error(`ezigen ${args.join(' ')} failed: ${out.stderr}`);
  return JSON.parse(out.stdout);
}

/** Saves a screenshot under tests/browser/artifacts/ (not committed). */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
