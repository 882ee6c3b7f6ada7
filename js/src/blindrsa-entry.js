// Entry point bundled by js/build.sh into static/vendor/blindrsa.js (IIFE).
//
// Exposes `window.OrgBlindRSA`, a tiny wrapper over @cloudflare/blindrsa-ts
// for the client side of RFC 9474 with the suite
// RSABSSA-SHA384-PSS-Randomized (32 random prefix bytes in prepare,
// PSS with SHA-384 / MGF1-SHA-384, salt length 48).
//
//   Client(pk, msg)                              Server(sk)
//   {preparedMsg, blindedMsg, inv} = prepareAndBlind(pk, msg)
//                          blindedMsg  --->
//                                         blindSig = blindedMsg^d mod n
//                          blindSig    <---
//   sig = finalize(pk, preparedMsg, blindSig, inv)
//   (sig is a standard RSASSA-PSS signature over preparedMsg)
//
// API (all byte values are Uint8Array; base64url means RFC 4648 §5 alphabet,
// no '=' padding on output, padding tolerated on input):
//
//   OrgBlindRSA.suite    -> 'RSABSSA-SHA384-PSS-Randomized'
//   OrgBlindRSA.version  -> version of @cloudflare/blindrsa-ts in the bundle
//
//   async prepareAndBlind(spkiPem, msgBytes)
//       -> { preparedMsg: Uint8Array, blindedMsg: Uint8Array, inv: Uint8Array }
//     spkiPem:  '-----BEGIN PUBLIC KEY-----' PEM (SubjectPublicKeyInfo) of the
//               server's RSA key.
//     msgBytes: Uint8Array | ArrayBuffer | ArrayBufferView (for text use
//               new TextEncoder().encode(text)). Strings are rejected.
//     preparedMsg = 32 random bytes || msg  (the message actually signed)
//     blindedMsg, inv: k bytes each (k = modulus length in bytes).
//     Send blindedMsg to the server. Keep preparedMsg and inv secret, on the
//     client only: together they unlink the final signature from blindedMsg.
//     To survive a page reload store them as b64urlEncode(...) strings.
//
//   async finalize(spkiPem, preparedMsg, blindSig, inv) -> Uint8Array sig
//     preparedMsg, blindSig, inv: Uint8Array (or any ArrayBuffer/view) OR a
//     base64url string (so values read back from localStorage can be passed
//     as they are). Unblinds and verifies the result as RSASSA-PSS over
//     preparedMsg; throws Error('invalid signature') if the server's blind
//     signature was not made with the key of spkiPem.
//
//   async verify(spkiPem, sig, preparedMsg) -> boolean
//     Same argument conventions as finalize.
//
//   b64urlEncode(bytes) -> string   (base64url, unpadded)
//   b64urlDecode(str)   -> Uint8Array (throws TypeError on invalid input)
//
// Requires WebCrypto (`crypto.subtle`), i.e. a secure context (https:// or
// http://localhost) in browsers.

import { RSABSSA } from '@cloudflare/blindrsa-ts';
import { version } from '@cloudflare/blindrsa-ts/package.json';

const suite = RSABSSA.SHA384.PSS.Randomized();

// ---------------------------------------------------------------- base64url

function b64urlEncode(bytes) {
  const u8 = toBytes(bytes, 'bytes');
  let bin = '';
  for (let i = 0; i < u8.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64urlDecode(str) {
  if (typeof str !== 'string') {
    throw new TypeError('b64urlDecode: expected a string');
  }
  const s = str.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) {
    throw new TypeError('b64urlDecode: invalid base64url');
  }
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// -------------------------------------------------------------- byte inputs

// Uint8Array | ArrayBuffer | ArrayBufferView -> Uint8Array (a copy).
// With allowB64url, a string is decoded as base64url.
function toBytes(v, name, allowB64url = false) {
  if (typeof v === 'string' && allowB64url) return b64urlDecode(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  if (ArrayBuffer.isView(v)) {
    return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  }
  // Cross-realm typed arrays (e.g. from another frame / vm context).
  if (v && typeof v === 'object' && typeof v.byteLength === 'number' && typeof v.length === 'number') {
    return Uint8Array.from(v);
  }
  throw new TypeError(
    `${name}: expected Uint8Array/ArrayBuffer${allowB64url ? ' or base64url string' : ''}`,
  );
}

// ------------------------------------------------------------------ keys

const keyCache = new Map();

function pemToDer(pem) {
  if (typeof pem !== 'string') throw new TypeError('spkiPem: expected a PEM string');
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem);
  if (!m) {
    throw new TypeError('spkiPem: expected "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo) PEM');
  }
  const b64 = m[1].replace(/\s+/g, '');
  return b64urlDecode(b64.replace(/\+/g, '-').replace(/\//g, '_'));
}

// The library wants an *extractable* RSA-PSS public CryptoKey with SHA-384
// (it exports it as JWK to read n and e). WebCrypto accepts plain
// rsaEncryption SPKI keys for RSA-PSS.
function importPublicKey(spkiPem) {
  let p = keyCache.get(spkiPem);
  if (!p) {
    p = crypto.subtle.importKey(
      'spki',
      pemToDer(spkiPem),
      { name: 'RSA-PSS', hash: 'SHA-384' },
      true,
      ['verify'],
    );
    p.catch(() => keyCache.delete(spkiPem));
    keyCache.set(spkiPem, p);
  }
  return p;
}

// -------------------------------------------------------------- protocol

async function prepareAndBlind(spkiPem, msgBytes) {
  const publicKey = await importPublicKey(spkiPem);
  const preparedMsg = suite.prepare(toBytes(msgBytes, 'msgBytes'));
  const { blindedMsg, inv } = await suite.blind(publicKey, preparedMsg);
  return { preparedMsg, blindedMsg, inv };
}

async function finalize(spkiPem, preparedMsg, blindSig, inv) {
  const publicKey = await importPublicKey(spkiPem);
  return suite.finalize(
    publicKey,
    toBytes(preparedMsg, 'preparedMsg', true),
    toBytes(blindSig, 'blindSig', true),
    toBytes(inv, 'inv', true),
  );
}

async function verify(spkiPem, sig, preparedMsg) {
  const publicKey = await importPublicKey(spkiPem);
  return suite.verify(
    publicKey,
    toBytes(sig, 'sig', true),
    toBytes(preparedMsg, 'preparedMsg', true),
  );
}

const OrgBlindRSA = Object.freeze({
  suite: suite.toString(),
  version,
  prepareAndBlind,
  finalize,
  verify,
  b64urlEncode,
  b64urlDecode,
});

globalThis.OrgBlindRSA = OrgBlindRSA;
