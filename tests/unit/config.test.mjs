// www/src/config.ts: the deployment's config.json (where the weights are) and each refusal's
// message; www/serve.mjs: the CSP derived from the same file (connect-src 'self' + the weights
// origin, nothing else).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './helpers.mjs';
import { CSP, cspFor, weightsOriginOf } from '../../www/serve.mjs';

const { parseDeployConfig, defaultConfig, DEFAULT_WEIGHTS_BASE } = await load('config');

const PAGE = 'https://demo.example.com/ezigen/';
const parse = (obj) => parseDeployConfig(typeof obj === 'string' ? obj : JSON.stringify(obj), PAGE);

test('no setting: the weights stay in models/ next to the page', () => {
  assert.deepEqual(defaultConfig(PAGE), { weightsBaseUrl: DEFAULT_WEIGHTS_BASE, weightsOrigin: 'https://demo.example.com', fromFile: false });
  const r = parse({});
  assert.ok(r.ok);
  assert.equal(r.config.weightsBaseUrl, 'models/');
  assert.equal(r.config.fromFile, true);
});

test('an absolute weights URL: its origin, a trailing slash added', () => {
  const r = parse({ weightsBaseUrl: 'https://cdn.example.org/ezigen/sd21-base' });
  assert.ok(r.ok);
  assert.equal(r.config.weightsBaseUrl, 'https://cdn.example.org/ezigen/sd21-base/');
  assert.equal(r.config.weightsOrigin, 'https://cdn.example.org');
});

test('a relative weights URL stays on the page origin', () => {
  const r = parse({ weightsBaseUrl: '../weights/' });
  assert.ok(r.ok);
  assert.equal(r.config.weightsOrigin, 'https://demo.example.com');
});

test('refusals say what is wrong', () => {
  const refused = (obj, why) => {
    const r = parse(obj);
    assert.equal(r.ok, false, JSON.stringify(obj));
    assert.match(r.error, /^The site's config\.json is not valid: /);
    assert.match(r.error, why);
  };
  refused('{oops', /not JSON/);
  refused('[1]', /not a JSON object/);
  refused({ weightsBaseURL: 'https://x/' }, /unknown setting "weightsBaseURL"/);
  refused({ weightsBaseUrl: 42 }, /must be a non-empty string/);
  refused({ weightsBaseUrl: '' }, /must be a non-empty string/);
  refused({ weightsBaseUrl: 'ftp://cdn.example.org/w/' }, /http\(s\) URL, not ftp:/);
  refused({ weightsBaseUrl: 'https://u:p@cdn.example.org/w/' }, /user name or password/);
  refused({ weightsBaseUrl: 'https://cdn.example.org/w/?v=1' }, /without \?query/);
  refused({ weightsBaseUrl: 'http://cdn.example.org/w/' }, /mixed content/);
});

test('serve.mjs: connect-src is the page plus exactly the weights origin', () => {
  assert.match(CSP, /connect-src 'self';/);
  assert.equal(weightsOriginOf({}), null);
  assert.equal(weightsOriginOf({ weightsBaseUrl: 'models/' }), null);
  assert.equal(weightsOriginOf({ weightsBaseUrl: 'https://cdn.example.org/ezigen/' }), 'https://cdn.example.org');
  const csp = cspFor('https://cdn.example.org');
  assert.match(csp, /connect-src 'self' https:\/\/cdn\.example\.org;/);
  assert.equal(csp.replace(" https://cdn.example.org", ''), CSP, 'nothing else changes');
  assert.throws(() => weightsOriginOf({ weightsBaseUrl: 'ftp://x/' }), /http\(s\)/);
  assert.throws(() => weightsOriginOf([]), /not a JSON object/);
});

test('serve.mjs: a folder without config.json serves with connect-src self and no warning', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { serve } = await import('../../www/serve.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'ezigen-serve-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  const errors = [];
  const orig = console.error;
  console.error = (...a) => errors.push(a.join(' '));
  let server;
  try {
    server = await serve({ dir, port: 0 });
    const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
    await res.arrayBuffer();
    assert.equal(res.headers.get('content-security-policy'), CSP);
  } finally {
    console.error = orig;
    if (server) {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(errors, [], 'no "not usable" warning for a missing config.json');
});
