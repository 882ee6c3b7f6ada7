#!/usr/bin/env node
// Runs the browser's log checks (static/js/log-check.js, the shipped file,
// evaluated as a plain script) on cases from tests/signatures/test_log_check_js.py.
//
//   node tests/signatures/node/log_check.mjs < cases.json
//
// stdin: a JSON list of cases {"fn": "<OrgLogCheck function>", "args": [...]}.
// Byte strings travel as {"b64": "<standard base64>"} both ways; a list of
// them is a list of such objects. checkReceiptLog's fetchers are given as
// {"served": {"<path>": {"text": "..."} | {"b64": "..."}}}: a path missing
// there is a failed fetch (as a 404 would be).
// stdout: one JSON list, in the same order, of {"value": ...} or
// {"error": "<LogCheckError code, or the Error's name>", "message": "..."}.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';

if (!globalThis.crypto) globalThis.crypto = webcrypto;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const file = resolve(ROOT, 'static/js/log-check.js');
vm.runInThisContext(readFileSync(file, 'utf8'), { filename: file });
const check = globalThis.OrgLogCheck;

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if (Object.keys(value).length === 1 && typeof value.b64 === 'string') {
      return new Uint8Array(Buffer.from(value.b64, 'base64'));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

function encode(value) {
  if (value instanceof Uint8Array) return { b64: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value === undefined ? null : value;
}

// {fetchText, fetchBytes} answering from `served`.
function fetchers(served) {
  const get = (path) => {
    const found = served[path];
    if (!found) throw new Error('404 ' + path);
    return found;
  };
  return {
    fetchText: async (path) => {
      const found = get(path);
      return 'text' in found ? found.text : Buffer.from(found.b64, 'base64').toString('utf8');
    },
    fetchBytes: async (path) => {
      const found = get(path);
      return new Uint8Array('b64' in found ? Buffer.from(found.b64, 'base64') : Buffer.from(found.text));
    },
  };
}

async function run(item) {
  const fn = check[item.fn];
  if (typeof fn !== 'function') return { error: 'unknown', message: 'no function ' + item.fn };
  let args;
  if (item.fn === 'checkReceiptLog') {
    // One options object; its "served" entry becomes the two fetchers.
    const { served, ...rest } = item.args[0];
    args = [{ ...decode(rest), ...fetchers(served) }];
  } else {
    args = decode(item.args);
  }
  try {
    return { value: encode(await fn(...args)) };
  } catch (e) {
    return { error: e.code || e.name, message: e.message, details: e.details || null };
  }
}

const cases = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const item of cases) results.push(await run(item));
process.stdout.write(JSON.stringify(results) + '\n');
