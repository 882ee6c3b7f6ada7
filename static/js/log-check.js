// Checks a letter's transparency log in the browser: the signed checkpoint
// (C2SP signed-note and tlog-checkpoint, Ed25519), a receipt's inclusion
// proof (RFC 9162 2.1.3.2) against the checkpoint's root, and the
// consistency proof (RFC 9162 2.1.4.2) from a checkpoint seen before.
// docs/signing-protocol.md, "The log"; the Python reference is
// signatures/tlog.py. WebCrypto only, no other code.
//
// A plain script: it sets window.OrgLogCheck (receipt.js uses it), and
// tests/signatures/node/log_check.mjs loads the same file in Node.
//
// Tree sizes and indexes are JavaScript numbers: the arithmetic below uses
// division, not bit operations (which work on 32 bits), and refuses what is
// not a safe integer (2**53, far beyond any letter).
(function (root) {
  "use strict";

  const HASH_SIZE = 32;
  const TILE_WIDTH = 256;
  const NOTE_SIGNATURE_PREFIX = "\u2014 "; // em dash, space
  const ED25519 = 0x01; // the signed-note signature type

  // Every failure carries a code that the page turns into words:
  //   unsupported  this browser lacks WebCrypto's SHA-256 or Ed25519
  //   fetch        the checkpoint or the entries could not be fetched
  //   key          the verifier key is malformed
  //   key-changed  the verifier key is not the one seen before
  //   note         the checkpoint does not carry a valid signature of the key
  //   checkpoint   the checkpoint is malformed or of another log
  //   size         no signed checkpoint of the proof's tree size
  //   entry        the signature's entry is missing or not a signature
  //   proof        the answer's log object is malformed
  //   inclusion    the inclusion proof does not lead to the checkpoint's root
  //   consistency  the checkpoint seen before is not a prefix of this one
  //   shrunk       the log is smaller than the checkpoint seen before
  class LogCheckError extends Error {
    constructor(code, message, details) {
      super(message);
      this.name = "LogCheckError";
      this.code = code;
      this.details = details || {};
    }
  }

  function fail(code, message, details) {
    throw new LogCheckError(code, message, details);
  }

  function subtle() {
    const crypto = root.crypto;
    if (!crypto || !crypto.subtle) fail("unsupported", "WebCrypto is not available here");
    return crypto.subtle;
  }

  // --- bytes and encodings ------------------------------------------------------------

  const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

  // Standard base64 with its padding, nothing else (Python's b64decode with
  // validate=True); an Error otherwise.
  function b64decode(text) {
    if (typeof text !== "string" || !STRICT_BASE64.test(text)) throw new Error("not base64");
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  function b64encode(bytes) {
    let binary = "";
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function equal(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  const utf8 = (text) => new TextEncoder().encode(text);

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest("SHA-256", bytes));
  }

  // --- RFC 6962 hashing ---------------------------------------------------------------

  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  const isSize = (n) => Number.isSafeInteger(n) && n >= 0;
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);

  function powerOfTwo(n) {
    while (n > 1 && !odd(n)) n = half(n);
    return n === 1;
  }

  // The root that `proof` leads to from `leaf` (RFC 9162 2.1.3.2); an
  // "inclusion" LogCheckError when the proof has the wrong length for
  // (index, size).
  async function rootFromInclusionProof(index, size, leaf, proof) {
    if (!isSize(index) || !isSize(size) || index >= size) {
      fail("inclusion", "index " + index + " is not in a tree of size " + size);
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) fail("inclusion", "inclusion proof too long");
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!odd(fn)) {
          while (fn !== 0 && !odd(fn)) {
            fn = half(fn);
            sn = half(sn);
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) fail("inclusion", "inclusion proof too short");
    return r;
  }

  async function verifyInclusion(index, size, leaf, proof, rootHash) {
    try {
      return equal(await rootFromInclusionProof(index, size, leaf, proof), rootHash);
    } catch (e) {
      if (e instanceof LogCheckError && e.code === "inclusion") return false;
      throw e;
    }
  }

  // Whether `proof` shows the tree of oldSize (oldRoot) to be a prefix of
  // the tree of newSize (newRoot): RFC 9162 2.1.4.2.
  async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
    if (!isSize(oldSize) || !isSize(newSize) || oldSize < 1 || oldSize > newSize) return false;
    if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
    let path = proof;
    // A power of two: the old root is itself a node of the new tree.
    if (powerOfTwo(oldSize)) path = [oldRoot].concat(proof);
    if (!path.length) return false;
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (odd(fn)) {
      fn = half(fn);
      sn = half(sn);
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!odd(fn)) {
          while (fn !== 0 && !odd(fn)) {
            fn = half(fn);
            sn = half(sn);
          }
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
  }

  // --- tiles and entry bundles (C2SP tlog-tiles) ------------------------------------

  // N as zero-padded 3-digit path elements, all but the last with an x:
  // 1234067 -> "x001/x234/067".
  function tileIndexPath(index) {
    if (!isSize(index)) throw new Error("a tile index is a whole number");
    const groups = [];
    let n = index;
    do {
      groups.unshift(String(n % 1000).padStart(3, "0"));
      n = Math.floor(n / 1000);
    } while (n > 0);
    return groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
  }

  // The path, under the log's prefix, of the entry bundle that holds entry
  // `index` in the tree of `size`: full, or partial (".p/<width>") at the edge.
  function entryBundlePath(index, size) {
    if (!isSize(index) || !isSize(size) || index >= size) {
      throw new Error("entry " + index + " is not in a tree of size " + size);
    }
    const bundle = Math.floor(index / TILE_WIDTH);
    const width = Math.min(TILE_WIDTH, size - bundle * TILE_WIDTH);
    return "tile/entries/" + tileIndexPath(bundle) + (width < TILE_WIDTH ? ".p/" + width : "");
  }

  // The entries of a bundle: each preceded by its length (2 bytes, big-endian).
  function parseEntryBundle(data) {
    const entries = [];
    let position = 0;
    while (position < data.length) {
      if (position + 2 > data.length) fail("entry", "entry bundle ends inside a length");
      const length = data[position] * 256 + data[position + 1];
      position += 2;
      if (position + length > data.length) fail("entry", "entry bundle ends inside an entry");
      entries.push(data.subarray(position, position + length));
      position += length;
    }
    return entries;
  }

  // --- checkpoints and signed notes (C2SP tlog-checkpoint, signed-note) ------------

  const PLAIN_DECIMAL = /^(?:0|[1-9][0-9]*)$/;

  // {origin, size, root} of a checkpoint's text (extension lines ignored).
  function parseCheckpoint(text) {
    const lines = text.split("\n");
    if (lines.length < 4 || lines[lines.length - 1] !== "" || !lines[0]) {
      fail("checkpoint", "a checkpoint is origin, size and root, each on a line");
    }
    if (!PLAIN_DECIMAL.test(lines[1]) || !Number.isSafeInteger(Number(lines[1]))) {
      fail("checkpoint", "the checkpoint's size is not a plain decimal");
    }
    let rootHash;
    try { rootHash = b64decode(lines[2]); } catch (e) { rootHash = null; }
    if (!rootHash || rootHash.length !== HASH_SIZE) {
      fail("checkpoint", "the checkpoint's root is not a base64 SHA-256 hash");
    }
    return { origin: lines[0], size: Number(lines[1]), root: rootHash };
  }

  const validKeyName = (name) => !!name && !name.includes("+") && !/\s/.test(name);

  // SHA-256(name || 0x0A || 0x01 || public key)[:4].
  async function keyId(name, publicKey) {
    return (await sha256(concat(utf8(name + "\n"), Uint8Array.of(ED25519), publicKey))).slice(0, 4);
  }

  // {name, keyId, publicKey} of "<name>+<8 hex key id>+<base64(0x01 || key)>",
  // once the key id is checked against the key.
  async function parseVerifierKey(text) {
    const first = typeof text === "string" ? text.indexOf("+") : -1;
    const second = first < 0 ? -1 : text.indexOf("+", first + 1); // the key may hold "+"
    if (second < 0) fail("key", "a verifier key is <name>+<key id>+<key>");
    const name = text.slice(0, first);
    const idHex = text.slice(first + 1, second);
    if (!validKeyName(name) || !/^[0-9a-fA-F]{8}$/.test(idHex)) {
      fail("key", "a verifier key is <name>+<key id>+<key>");
    }
    let raw;
    try { raw = b64decode(text.slice(second + 1)); } catch (e) { fail("key", "the verifier key is not base64"); }
    if (raw.length !== 33 || raw[0] !== ED25519) fail("key", "the verifier key is not an Ed25519 key");
    const publicKey = raw.slice(1);
    if (hex(await keyId(name, publicKey)) !== idHex.toLowerCase()) {
      fail("key", "the verifier key's id does not match its key");
    }
    return { name: name, keyId: idHex.toLowerCase(), publicKey: publicKey };
  }

  async function ed25519Verify(publicKey, signature, message) {
    let key;
    try {
      key = await subtle().importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e instanceof LogCheckError) throw e;
      fail("unsupported", "this browser cannot verify Ed25519 signatures (" + (e && e.name) + ")");
    }
    return subtle().verify({ name: "Ed25519" }, key, signature, message);
  }

  // The text of `note` if it carries a valid signature of `verifierKey`; a
  // "note" LogCheckError otherwise. Signatures of other keys are ignored, as
  // the specification requires.
  async function openNote(note, verifierKey) {
    const key = await parseVerifierKey(verifierKey);
    if (typeof note !== "string" || !note.includes("\n\n") || !note.endsWith("\n")) {
      fail("note", "not a signed note");
    }
    const split = note.lastIndexOf("\n\n");
    const text = note.slice(0, split + 1);
    const lines = note.slice(split + 2, -1).split("\n");
    for (const line of lines) {
      if (!line.startsWith(NOTE_SIGNATURE_PREFIX)) fail("note", "malformed signature line");
      const rest = line.slice(NOTE_SIGNATURE_PREFIX.length);
      const space = rest.indexOf(" ");
      const signer = space < 0 ? rest : rest.slice(0, space);
      let raw;
      try { raw = b64decode(space < 0 ? "" : rest.slice(space + 1)); } catch (e) { fail("note", "malformed signature line"); }
      if (signer !== key.name || raw.length < 4 || hex(raw.slice(0, 4)) !== key.keyId) continue;
      if (!(await ed25519Verify(key.publicKey, raw.slice(4), utf8(text)))) {
        fail("note", "invalid signature for key " + key.name);
      }
      return text;
    }
    fail("note", "no signature of key " + key.name);
  }

  // --- a receipt's place in the log ---------------------------------------------------

  async function fetched(what, fetch, path) {
    try {
      return await fetch(path);
    } catch (e) {
      fail("fetch", "could not fetch " + what + ": " + (e && e.message ? e.message : e), { path: path });
    }
  }

  // The checkpoint of exactly `size`, its signature verified: the latest
  // one, or (when batches were sealed since the answer) the one in the list
  // of every published checkpoint.
  async function signedCheckpoint(size, origin, verifierKey, fetchText) {
    const open = async (note) => {
      const checkpoint = parseCheckpoint(await openNote(note, verifierKey));
      if (checkpoint.origin !== origin) fail("checkpoint", "the checkpoint is of another log");
      return checkpoint;
    };
    const latest = await open(await fetched("the checkpoint", fetchText, "checkpoint"));
    if (latest.size === size) return latest;
    let listed;
    try {
      listed = JSON.parse(await fetched("the checkpoints", fetchText, "checkpoints?after=" + (size - 1)));
    } catch (e) {
      if (e instanceof LogCheckError) throw e;
      listed = null;
    }
    const found = Array.isArray(listed) ? listed.find((item) => item && item.size === size) : null;
    if (!found || typeof found.note !== "string") {
      fail("size", "no signed checkpoint of size " + size, { size: size, latest: latest.size });
    }
    const checkpoint = await open(found.note);
    if (checkpoint.size !== size) fail("size", "the listed checkpoint is not of size " + size, { size: size });
    return checkpoint;
  }

  function decodeHashes(list, what) {
    if (!Array.isArray(list)) fail("proof", what + " is not a list of hashes");
    return list.map((item) => {
      let hash;
      try { hash = b64decode(item); } catch (e) { hash = null; }
      if (!hash || hash.length !== HASH_SIZE) fail("proof", what + " holds something that is not a hash");
      return hash;
    });
  }

  // Checks the `log` object of a receipt's status answer, {index, tree_size,
  // proof[, consistency]}, against the letter's log:
  //   origin, verifierKey  from the letter API's `log`;
  //   kept                 null, or the checkpoint this browser verified
  //                        before: {size, root (base64), verifierKey};
  //   fetchText(path), fetchBytes(path)  fetch a path under the log's
  //                        prefix ("checkpoint", "tile/entries/000.p/5", ...).
  // Resolves to {index, size, root (base64), entry (the parsed entry),
  // grewFrom (the kept size, or null)}; rejects with a LogCheckError.
  async function checkReceiptLog(options) {
    const log = options.log || {};
    const { origin, verifierKey, kept, fetchText, fetchBytes } = options;
    if (!isSize(log.index) || !isSize(log.tree_size) || log.index >= log.tree_size) {
      fail("proof", "the answer does not place the signature in a tree");
    }
    const size = log.tree_size;
    const proof = decodeHashes(log.proof, "the inclusion proof");
    if (kept && kept.verifierKey && kept.verifierKey !== verifierKey) {
      fail("key-changed", "the log's key is not the one seen before");
    }
    const checkpoint = await signedCheckpoint(size, origin, verifierKey, fetchText);

    const bundle = parseEntryBundle(
      await fetched("the entries", fetchBytes, entryBundlePath(log.index, size)));
    const expected = Math.min(TILE_WIDTH, size - Math.floor(log.index / TILE_WIDTH) * TILE_WIDTH);
    if (bundle.length !== expected) fail("entry", "the entry bundle has the wrong number of entries");
    const entryBytes = bundle[log.index % TILE_WIDTH];
    let entry = null;
    try { entry = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entryBytes)); } catch (e) { entry = null; }
    if (!entry || entry.kind !== "signature") {
      fail("entry", "entry " + log.index + " is not a signature", { index: log.index });
    }
    const leaf = await leafHash(entryBytes);
    if (!(await verifyInclusion(log.index, size, leaf, proof, checkpoint.root))) {
      fail("inclusion", "the inclusion proof does not lead to the checkpoint's root",
        { index: log.index, size: size });
    }

    let grewFrom = null;
    if (kept) {
      let keptRoot = null;
      try { keptRoot = b64decode(kept.root); } catch (e) { keptRoot = null; }
      if (!isSize(kept.size) || kept.size < 1 || !keptRoot || keptRoot.length !== HASH_SIZE) {
        fail("proof", "the checkpoint kept before is unreadable");
      }
      if (kept.size > size) {
        fail("shrunk", "the log is smaller than before", { from: kept.size, to: size });
      }
      if (log.consistency === undefined) {
        fail("consistency", "no consistency proof from the checkpoint seen before",
          { from: kept.size, to: size });
      }
      const consistency = decodeHashes(log.consistency, "the consistency proof");
      if (!(await verifyConsistency(kept.size, size, keptRoot, checkpoint.root, consistency))) {
        fail("consistency", "the checkpoint seen before is not a prefix of this one",
          { from: kept.size, to: size });
      }
      grewFrom = kept.size;
    }
    return { index: log.index, size: size, root: b64encode(checkpoint.root), entry: entry, grewFrom: grewFrom };
  }

  const api = {
    LogCheckError: LogCheckError,
    b64decode: b64decode,
    b64encode: b64encode,
    leafHash: leafHash,
    nodeHash: nodeHash,
    rootFromInclusionProof: rootFromInclusionProof,
    verifyInclusion: verifyInclusion,
    verifyConsistency: verifyConsistency,
    tileIndexPath: tileIndexPath,
    entryBundlePath: entryBundlePath,
    parseEntryBundle: parseEntryBundle,
    parseCheckpoint: parseCheckpoint,
    parseVerifierKey: parseVerifierKey,
    openNote: openNote,
    checkReceiptLog: checkReceiptLog,
  };
  root.OrgLogCheck = api;
})(typeof window !== "undefined" ? window : globalThis);
