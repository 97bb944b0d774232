// The deployment's settings: an optional `config.json` next to index.html, read once by the page
// at start-up. Today it holds one setting, where the weights live:
//
//   { "weightsBaseUrl": "https://cdn.example.org/ezigen/sd21-base/" }
//
// Absent (HTTP 404), the page behaves as without it: the weights come from `models/` next to the
// page. A weights host on another origin must answer with CORS headers and be named in the CSP's
// connect-src; www/serve.mjs and www/tools/build-web.mjs derive that from this same file (see
// "Host a demo" in README.md). A config that cannot be used never stops the page: the model
// panel says what is wrong, and a local folder can still be chosen.

/** The folder of the weights when no config names one. */
export const DEFAULT_WEIGHTS_BASE = 'models/';

/** What config.json says, checked. */
export interface DeployConfig {
  /** Where manifest.json and the shards are: as written (relative to the page, or absolute), ending in '/'. */
  weightsBaseUrl: string;
  /** The origin the weights come from (`https://cdn.example.org`); the page's own for a relative base. */
  weightsOrigin: string;
  /** Whether config.json was present (false: the defaults). */
  fromFile: boolean;
}

/** The result of reading config.json: a config, or a message that says what is wrong with it. */
export type ConfigResult = { ok: true; config: DeployConfig } | { ok: false; error: string };

/** The defaults (no config.json): weights in `models/` next to `pageUrl`. */
export function defaultConfig(pageUrl: string): DeployConfig {
  return { weightsBaseUrl: DEFAULT_WEIGHTS_BASE, weightsOrigin: new URL(pageUrl).origin, fromFile: false };
}

/**
 * Checks the text of config.json for the page at `pageUrl`. Refusals name what is wrong:
 * not JSON, not an object, unknown keys, `weightsBaseUrl` not a string or not a usable http(s)
 * URL (credentials, query or fragment, plain http from an https page).
 */
export function parseDeployConfig(text: string, pageUrl: string): ConfigResult {
  const bad = (why: string): ConfigResult => ({ ok: false, error: `The site's config.json is not valid: ${why}.` });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return bad(`it is not JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad('it is not a JSON object');
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => k !== 'weightsBaseUrl');
  if (unknown.length > 0) return bad(`unknown setting ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the only one is "weightsBaseUrl")`);
  if (obj.weightsBaseUrl === undefined) return { ok: true, config: { ...defaultConfig(pageUrl), fromFile: true } };
  const base = obj.weightsBaseUrl;
  if (typeof base !== 'string' || base.trim() === '') return bad('"weightsBaseUrl" must be a non-empty string (a URL)');
  let url: URL;
  try {
    url = new URL(base.trim(), pageUrl);
  } catch {
    return bad(`"weightsBaseUrl" ${JSON.stringify(base)} is not a URL`);
  }
  const page = new URL(pageUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return bad(`"weightsBaseUrl" must be an http(s) URL, not ${url.protocol}`);
  if (url.username || url.password) return bad('"weightsBaseUrl" must not contain a user name or password');
  if (url.search || url.hash) return bad('"weightsBaseUrl" must be a folder URL without ?query or #fragment');
  if (page.protocol === 'https:' && url.protocol === 'http:') {
    return bad(`"weightsBaseUrl" ${JSON.stringify(base)} is plain http, which a page served over https may not fetch (mixed content)`);
  }
  const trimmed = base.trim();
  return {
    ok: true,
    config: { weightsBaseUrl: trimmed.endsWith('/') ? trimmed : `${trimmed}/`, weightsOrigin: url.origin, fromFile: true },
  };
}

/**
 * Reads `config.json` next to the page. A 404 (or an HTML page that some static hosts send in
 * place of a missing file) means "no config": the defaults. A network failure or a bad file is
 * an error result, with a message for the model panel. Never throws.
 */
export async function loadDeployConfig(pageUrl: string = location.href, timeoutMs = 10_000): Promise<ConfigResult> {
  const url = new URL('config.json', pageUrl).href;
  let res: Response;
  try {
    res = await fetch(url, { cache: 'no-cache', signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    return { ok: false, error: `The site's config.json could not be read (${e instanceof Error ? e.message : String(e)}).` };
  }
  if (res.status === 404) return { ok: true, config: defaultConfig(pageUrl) };
  if (!res.ok) return { ok: false, error: `The site's config.json could not be read (HTTP ${res.status}).` };
  if ((res.headers.get('content-type') ?? '').includes('text/html')) return { ok: true, config: defaultConfig(pageUrl) };
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    return { ok: false, error: `The site's config.json could not be read (${e instanceof Error ? e.message : String(e)}).` };
  }
  return parseDeployConfig(text, pageUrl);
}
