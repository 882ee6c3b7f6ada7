#!/usr/bin/env node
// RFC 9474 (RSABSSA-SHA384-PSS-Randomized) client for interop tests.
//
//   node tests/signatures/node/client.mjs [--impl=npm|bundle] < request.json
//
// --impl=npm    (default) @cloudflare/blindrsa-ts from js/node_modules
//               (needs `cd js && ./build.sh` or `npm ci` there first).
// --impl=bundle the shipped static/vendor/blindrsa.js, evaluated in Node
//               with globalThis.window = globalThis, via window.OrgBlindRSA.
//
// stdin (one JSON object), all byte strings base64url (padding optional):
//   {"mode": "blind", "spki_pem": "...", "msg_b64url": "..."}
//     -> {"prepared_msg": "...", "blinded_msg": "...", "inv": "..."}
//   {"mode": "finalize", "spki_pem": "...", "prepared_msg": "...",
//    "blind_sig": "...", "inv": "..."}
//     -> {"sig": "..."}
// Output is one JSON line on stdout (unpadded base64url). On error: message
// on stderr, exit status 1.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';

// Node 18 (Debian 12's nodejs) has WebCrypto only as node:crypto's webcrypto;
// Node 19+ also exposes it as globalThis.crypto, which the library expects.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const b64u = {
  enc: (u8) => Buffer.from(u8).toString('base64url'),
  dec: (s) => new Uint8Array(Buffer.from(s, 'base64url')),
};

// Both implementations expose: blind(pem, msg) / finalize(pem, prep, bsig, inv)
// taking and returning Uint8Array.
async function loadNpm() {
  const req = createRequire(resolve(ROOT, 'js/package.json'));
  const { RSABSSA } = await import(pathToFileURL(req.resolve('@cloudflare/blindrsa-ts')).href);
  const suite = RSABSSA.SHA384.PSS.Randomized();
  const key = (pem) => {
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
    return crypto.subtle.importKey('spki', der, { name: 'RSA-PSS', hash: 'SHA-384' }, true, ['verify']);
  };
  return {
    async blind(pem, msg) {
      const preparedMsg = suite.prepare(msg);
      const { blindedMsg, inv } = await suite.blind(await key(pem), preparedMsg);
      return { preparedMsg, blindedMsg, inv };
    },
    finalize: async (pem, prep, bsig, inv) => suite.finalize(await key(pem), prep, bsig, inv),
  };
}

function loadBundle() {
  const file = resolve(ROOT, 'static/vendor/blindrsa.js');
  globalThis.window = globalThis;
  vm.runInThisContext(readFileSync(file, 'utf8'), { filename: file });
  const api = globalThis.window.OrgBlindRSA;
  if (!api) throw new Error(`${file} did not define window.OrgBlindRSA`);
  return { blind: api.prepareAndBlind, finalize: api.finalize };
}

async function main() {
  const arg = process.argv.slice(2).find((a) => a.startsWith('--impl=')) ?? '--impl=npm';
  const impl = arg.slice('--impl='.length);
  if (impl !== 'npm' && impl !== 'bundle') throw new Error(`unknown ${arg}`);
  const lib = impl === 'npm' ? await loadNpm() : loadBundle();

  const req = JSON.parse(readFileSync(0, 'utf8'));
  let out;
  if (req.mode === 'blind') {
    const r = await lib.blind(req.spki_pem, b64u.dec(req.msg_b64url));
    out = { prepared_msg: b64u.enc(r.preparedMsg), blinded_msg: b64u.enc(r.blindedMsg), inv: b64u.enc(r.inv) };
  } else if (req.mode === 'finalize') {
    const sig = await lib.finalize(
      req.spki_pem, b64u.dec(req.prepared_msg), b64u.dec(req.blind_sig), b64u.dec(req.inv));
    out = { sig: b64u.enc(sig) };
  } else {
    throw new Error(`unknown mode: ${JSON.stringify(req.mode)}`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`client.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
});
