/*
 * End-to-end encrypted discussion channel (templates/discussions/room.html).
 *
 * Crypto (WebCrypto only, nothing leaves the browser unencrypted):
 * - Each browser has one ECDH P-256 key pair; the private key is generated
 *   non-extractable and kept in IndexedDB. Its public key is registered with
 *   the server; its SHA-256 fingerprint is shown so members can compare.
 * - Each channel key epoch has a random AES-256-GCM key. Messages are encrypted
 *   with a fresh 96-bit IV and associated data binding the channel id and epoch.
 * - A member who holds the key wraps it for another device: ECDH(own private,
 *   their public) -> HKDF-SHA-256 (random salt, info binding channel and epoch)
 *   -> AES-KW. A key link carries the raw key in the URL fragment, which the
 *   browser never sends to the server.
 * - When a member is removed the server starts a new epoch; a remaining member's
 *   browser makes the new key and wraps it only for the remaining devices.
 *
 * Protocol: docs/channels-protocol.md. After a reconnect the client asks for
 * every change after the last sequence number it saw, and a gap in sequence
 * numbers triggers the same resync, so no stored message is silently missed.
 */
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root) return;
  var S = document.getElementById("chat-strings").dataset;
  var channelId = Number(root.dataset.channelId);
  var wsPath = root.dataset.wsPath;
  var myMember = Number(root.dataset.memberId);
  var retentionDays = Number(root.dataset.retentionDays || 0);

  var el = function (id) { return document.getElementById(id); };
  var log = el("chat-log");
  var input = el("chat-input");
  var sendButton = el("chat-send");
  var form = el("chat-form");
  var keyState = el("chat-key-state");
  var connection = el("chat-connection");

  var enc = new TextEncoder();
  var dec = new TextDecoder();
  var subtle = window.crypto && window.crypto.subtle;

  // --- state ----------------------------------------------------------------
  var ws = null;
  var device = null; // {privateKey, publicKey, publicB64, fingerprint}
  var myDeviceId = null;
  var epoch = 1;
  var established = false;
  var archived = false;
  var keys = {}; // epoch -> CryptoKey (AES-GCM)
  var messages = new Map(); // id -> server message dict
  var plain = new Map(); // id -> decrypted text or null
  var lastSeq = null; // highest change sequence number applied
  var syncing = false;
  var oldestId = null;
  var hasMore = false;
  var loadingOlder = false;
  var online = new Map();
  var devices = [];
  var editingId = null;
  var reconnectDelay = 500;
  var closedForGood = false;
  var lastTypingSent = 0;
  var typingTimers = new Map();
  var lastReadId = 0;
  var unreadShown = false;
  var claimTimer = null;
  var wrapTimer = null;
  var refCounter = 0;

  // --- encoding helpers --------------------------------------------------------
  function b64(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }
  function unb64(str) {
    var s = atob(str);
    var bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes;
  }
  function b64url(buf) { return b64(buf).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
  function unb64url(str) {
    str = str.replace(/-/g, "+").replace(/_/g, "/");
    while (str.length % 4) str += "=";
    return unb64(str);
  }
  function hex(buf) {
    return Array.from(new Uint8Array(buf)).map(function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function groupFingerprint(fp) { return (fp || "").slice(0, 32).match(/.{1,4}/g).join(" "); }

  // --- IndexedDB ------------------------------------------------------------------
  var DB_NAME = "organizing-channels";
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, 1);
        req.onupgradeneeded = function () {
          var d = req.result;
          d.createObjectStore("device");
          d.createObjectStore("channelKeys");
          d.createObjectStore("state");
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function idb(store, mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction(store, mode);
        var req = fn(tx.objectStore(store));
        tx.oncomplete = function () { resolve(req ? req.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  var idbGet = function (store, key) { return idb(store, "readonly", function (s) { return s.get(key); }); };
  var idbPut = function (store, key, value) { return idb(store, "readwrite", function (s) { return s.put(value, key); }); };

  // --- device key pair -------------------------------------------------------------
  function loadDevice() {
    return idbGet("device", "ecdh").then(function (stored) {
      if (stored) return stored;
      return subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]).then(function (pair) {
        var record = { privateKey: pair.privateKey, publicKey: pair.publicKey };
        return idbPut("device", "ecdh", record).then(function () { return record; });
      });
    }).then(function (record) {
      return subtle.exportKey("raw", record.publicKey).then(function (raw) {
        return subtle.digest("SHA-256", raw).then(function (digest) {
          device = { privateKey: record.privateKey, publicKey: record.publicKey, publicB64: b64(raw), fingerprint: hex(digest) };
          el("chat-my-fingerprint").textContent = groupFingerprint(device.fingerprint);
        });
      });
    });
  }

  // --- channel keys ----------------------------------------------------------------------
  function keyId(ep) { return channelId + ":" + ep; }
  function rememberKey(ep, key) {
    keys[ep] = key;
    return idbPut("channelKeys", keyId(ep), { channel: channelId, epoch: ep, key: key });
  }
  function loadKeys() {
    return idb("channelKeys", "readonly", function (s) { return s.getAll(); }).then(function (rows) {
      (rows || []).forEach(function (row) { if (row.channel === channelId) keys[row.epoch] = row.key; });
    });
  }
  function aad(ep) { return enc.encode("organizing-channel:" + channelId + ":" + ep); }
  function kek(peerPublicB64, salt, ep) {
    return subtle.importKey("raw", unb64(peerPublicB64), { name: "ECDH", namedCurve: "P-256" }, false, [])
      .then(function (peer) { return subtle.deriveBits({ name: "ECDH", public: peer }, device.privateKey, 256); })
      .then(function (bits) { return subtle.importKey("raw", bits, "HKDF", false, ["deriveKey"]); })
      .then(function (hk) {
        return subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: salt, info: enc.encode("organizing channel key v1|" + channelId + "|" + ep) },
          hk, { name: "AES-KW", length: 256 }, false, ["wrapKey", "unwrapKey"]);
      });
  }
  function wrapFor(dev, ep) {
    var salt = crypto.getRandomValues(new Uint8Array(16));
    return kek(dev.public_key, salt, ep).then(function (k) { return subtle.wrapKey("raw", keys[ep], k, "AES-KW"); })
      .then(function (wrapped) { return { device: dev.id, wrapped: b64(wrapped), salt: b64(salt) }; });
  }
  function unwrap(w) {
    return kek(w.wrapper_public_key, unb64(w.salt), w.epoch)
      .then(function (k) { return subtle.unwrapKey("raw", unb64(w.wrapped), k, "AES-KW", { name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]); })
      .then(function (key) { return rememberKey(w.epoch, key); })
      .catch(function () { /* not for us or tampered: ignore */ });
  }
  function acceptWraps(wraps) {
    return Promise.all((wraps || []).filter(function (w) { return !keys[w.epoch]; }).map(unwrap)).then(function () {
      updateKeyState();
      redecrypt();
    });
  }

  // A key link: #k=<epoch>.<base64url key>. Read once, then removed from the address bar.
  function keyFromFragment() {
    var match = /^#k=(\d+)\.([A-Za-z0-9_-]{43})$/.exec(location.hash);
    history.replaceState(null, "", location.pathname + location.search);
    if (!match) return Promise.resolve();
    var ep = Number(match[1]);
    return subtle.importKey("raw", unb64url(match[2]), { name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"])
      .then(function (key) { return rememberKey(ep, key); })
      .catch(function () {});
  }
  function showKeyLink() {
    if (!keys[epoch]) return;
    subtle.exportKey("raw", keys[epoch]).then(function (raw) {
      var field = el("chat-invite-link");
      field.value = location.origin + location.pathname + "#k=" + epoch + "." + b64url(raw);
      field.hidden = false;
      field.focus();
      field.select();
    });
  }

  // --- encryption of messages ---------------------------------------------------------------
  function encrypt(text) {
    var iv = crypto.getRandomValues(new Uint8Array(12));
    var body = enc.encode(JSON.stringify({ t: text }));
    return subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: aad(epoch), tagLength: 128 }, keys[epoch], body)
      .then(function (ct) { return { epoch: epoch, ciphertext: b64(ct), iv: b64(iv) }; });
  }
  function decrypt(m) {
    var key = keys[m.epoch];
    if (!key) return Promise.resolve(null);
    return subtle.decrypt({ name: "AES-GCM", iv: unb64(m.iv), additionalData: aad(m.epoch), tagLength: 128 }, key, unb64(m.ciphertext))
      .then(function (pt) { return String(JSON.parse(dec.decode(pt)).t || ""); })
      .catch(function () { return null; });
  }

  // --- rendering ------------------------------------------------------------------------------
  function hourLabel(iso) {
    var d = new Date(iso);
    return S.around + " " + d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  function render(m) {
    var li = el("m-" + m.id);
    if (m.deleted) {
      if (li) li.remove();
      return;
    }
    if (!li) {
      li = document.createElement("li");
      li.id = "m-" + m.id;
      li.className = "chat-message";
      var next = null;
      for (var i = 0; i < log.children.length; i++) {
        var child = log.children[i];
        if (child.dataset.id && Number(child.dataset.id) > m.id) { next = child; break; }
      }
      if (next && next.previousElementSibling && next.previousElementSibling.classList.contains("chat-unread")) {
        next = next.previousElementSibling;
      }
      log.insertBefore(li, next);
    }
    li.dataset.id = m.id;
    li.textContent = "";
    var mine = m.sender === myMember;
    li.classList.toggle("chat-mine", mine);
    var meta = document.createElement("p");
    meta.className = "chat-meta";
    var who = document.createElement("strong");
    who.textContent = m.sender_name ? m.sender_name + (mine ? " (" + S.you + ")" : "") : S.former;
    meta.appendChild(who);
    var time = document.createElement("time");
    time.dateTime = m.hour;
    time.textContent = " " + hourLabel(m.hour);
    meta.appendChild(time);
    if (m.edited) {
      var ed = document.createElement("span");
      ed.className = "muted";
      ed.textContent = " " + S.edited;
      meta.appendChild(ed);
    }
    li.appendChild(meta);
    var text = document.createElement("p");
    var value = plain.get(m.id);
    text.className = value === null ? "chat-text chat-undecryptable" : "chat-text";
    text.textContent = value === null ? S.undecryptable : value;
    li.appendChild(text);
    if (mine && value !== null && !archived) {
      var actions = document.createElement("p");
      actions.className = "chat-message-actions";
      var edit = document.createElement("button");
      edit.type = "button";
      edit.className = "link-button";
      edit.textContent = S.edit;
      edit.addEventListener("click", function () { startEdit(m.id); });
      var del = document.createElement("button");
      del.type = "button";
      del.className = "link-button";
      del.textContent = S.delete;
      del.addEventListener("click", function () {
        if (window.confirm(S.deleteConfirm)) send({ type: "delete", id: m.id });
      });
      actions.appendChild(edit);
      actions.appendChild(document.createTextNode(" "));
      actions.appendChild(del);
      li.appendChild(actions);
    }
  }
  function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }
  function apply(m, live) {
    var wasBottom = atBottom();
    var known = messages.get(m.id);
    if (known && known.seq >= m.seq) return Promise.resolve();
    messages.set(m.id, m);
    if (oldestId === null || m.id < oldestId) oldestId = m.id;
    if (m.deleted) {
      plain.delete(m.id);
      render(m);
      return Promise.resolve();
    }
    return decrypt(m).then(function (text) {
      if (messages.get(m.id) !== m) return;
      plain.set(m.id, text);
      if (live && !known && m.sender !== myMember && m.id > lastReadId && (document.hidden || !wasBottom)) markUnread(m.id);
      render(m);
      if (wasBottom || m.sender === myMember) log.scrollTop = log.scrollHeight;
    });
  }
  function markUnread(beforeId) {
    if (unreadShown) return;
    unreadShown = true;
    var marker = document.createElement("li");
    marker.className = "chat-unread";
    marker.setAttribute("role", "separator");
    marker.textContent = S.unread;
    var next = null;
    for (var i = 0; i < log.children.length; i++) {
      if (Number(log.children[i].dataset.id) >= beforeId) { next = log.children[i]; break; }
    }
    log.insertBefore(marker, next);
  }
  function markRead() {
    if (document.hidden || !atBottom()) return;
    var max = 0;
    messages.forEach(function (m, id) { if (id > max) max = id; });
    if (max > lastReadId) {
      lastReadId = max;
      idbPut("state", "read:" + channelId, max).catch(function () {});
    }
  }
  function redecrypt() {
    messages.forEach(function (m) {
      if (!m.deleted && plain.get(m.id) === null) {
        decrypt(m).then(function (text) {
          if (text !== null) { plain.set(m.id, text); render(m); }
        });
      }
    });
  }
  function dropExpired(upToId) {
    messages.forEach(function (m, id) {
      if (id <= upToId) { messages.delete(id); plain.delete(id); var li = el("m-" + id); if (li) li.remove(); }
    });
  }
  function dropByRetention() {
    if (!retentionDays) return;
    var cutoff = Date.now() - retentionDays * 86400000;
    var upTo = 0;
    messages.forEach(function (m, id) { if (new Date(m.hour).getTime() <= cutoff && id > upTo) upTo = id; });
    if (upTo) dropExpired(upTo);
  }
  function renderOnline() {
    var names = Array.from(online.values()).sort();
    el("chat-online").textContent = names.length ? names.join(", ") : "—";
  }
  function renderDevices() {
    var list = el("chat-devices");
    list.textContent = "";
    devices.forEach(function (d) {
      var li = document.createElement("li");
      var name = document.createElement("strong");
      name.textContent = d.name + (d.id === myDeviceId ? " (" + S.you + ")" : "");
      var code = document.createElement("code");
      code.textContent = groupFingerprint(d.fingerprint);
      li.appendChild(name);
      li.appendChild(document.createTextNode(": "));
      li.appendChild(code);
      li.appendChild(document.createTextNode(" · " + (d.has_key ? S.hasKey : S.noKey)));
      list.appendChild(li);
    });
  }
  function setState(state, text) {
    root.dataset.state = state;
    if (text !== undefined) connection.textContent = text;
  }
  function updateKeyState(message) {
    var have = Boolean(keys[epoch]);
    root.dataset.keyEpoch = have ? String(epoch) : "";
    input.disabled = !have || archived;
    sendButton.disabled = !have || archived;
    el("chat-invite").hidden = !have;
    if (have) {
      keyState.hidden = true;
      keyState.textContent = "";
      root.dataset.keyState = "ready";
    } else {
      keyState.hidden = false;
      keyState.textContent = message || (established ? S.waiting : S.making);
      root.dataset.keyState = "missing";
    }
  }

  // --- the socket -----------------------------------------------------------------------------------
  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + wsPath);
    setState("connecting", lastSeq === null ? S.connecting : S.reconnecting);
    ws.onopen = function () {
      reconnectDelay = 500;
      send({ type: "hello", device_key: device.publicB64 });
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var handler = handlers[frame.type];
      if (handler) handler(frame);
    };
    ws.onclose = function (event) {
      online.clear();
      renderOnline();
      if (event.code >= 4400 && event.code < 4500) {
        closedForGood = true;
        setState("closed", S.closed + " " + (root.dataset.lastError || event.code));
        input.disabled = true;
        sendButton.disabled = true;
        return;
      }
      setState("reconnecting", S.reconnecting);
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10000);
    };
  }
  function requestSync() {
    if (syncing || lastSeq === null) return;
    syncing = true;
    send({ type: "sync", after_seq: lastSeq });
  }
  function sawSeq(seq) {
    if (lastSeq !== null && seq > lastSeq + 1) {
      requestSync(); // a change went missing on the way: fetch it
      return;
    }
    if (lastSeq === null || seq > lastSeq) lastSeq = seq;
  }
  function scheduleClaim() {
    clearTimeout(claimTimer);
    // Several members may see the new epoch at once: wait a random moment; the
    // server lets only the first claim through.
    claimTimer = setTimeout(function () { send({ type: "devices" }); }, Math.random() * 800);
  }
  function claimEpoch(list) {
    var ep = epoch;
    return subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]).then(function (key) {
      keys[ep] = key;
      return Promise.all(list.map(function (d) { return wrapFor(d, ep); })).then(function (wraps) {
        send({ type: "wrap", epoch: ep, claim: true, wraps: wraps });
      });
    });
  }
  function wrapForMissing(list) {
    if (!keys[epoch]) return;
    var missing = list.filter(function (d) { return !d.has_key; });
    if (!missing.length) return;
    var ep = epoch;
    Promise.all(missing.map(function (d) { return wrapFor(d, ep); })).then(function (wraps) {
      send({ type: "wrap", epoch: ep, wraps: wraps });
    });
  }
  function scheduleWrap() {
    clearTimeout(wrapTimer);
    wrapTimer = setTimeout(function () { send({ type: "devices" }); }, 200 + Math.random() * 1500);
  }

  var handlers = {
    welcome: function (f) {
      var c = f.channel;
      epoch = c.epoch;
      established = c.established;
      archived = c.archived;
      retentionDays = c.retention_days;
      myDeviceId = f.me.device;
      devices = f.devices || [];
      renderDevices();
      setState("ready", S.connected);
      acceptWraps(f.wraps).then(function () {
        if (!established) scheduleClaim();
        else if (keys[epoch]) wrapForMissing(devices);
        updateKeyState();
      });
      if (c.expired_before) dropExpired(c.expired_before - 1);
      if (lastSeq === null) {
        lastSeq = c.last_seq;
        send({ type: "history" });
      } else {
        requestSync();
      }
    },
    history: function (f) {
      hasMore = f.has_more;
      el("chat-older").hidden = !hasMore;
      var firstLoad = messages.size === 0;
      var prevHeight = log.scrollHeight;
      var prevTop = log.scrollTop;
      loadingOlder = false;
      Promise.all(f.messages.map(function (m) { return apply(m, false); })).then(function () {
        if (!firstLoad) {
          // Older messages went in above: keep what the reader was looking at in place.
          log.scrollTop = prevTop + (log.scrollHeight - prevHeight);
          return;
        }
        if (firstLoad) {
          var firstUnread = f.messages.find(function (m) { return m.id > lastReadId && m.sender !== myMember; });
          if (firstUnread && lastReadId) markUnread(firstUnread.id);
          log.scrollTop = log.scrollHeight;
        }
      });
    },
    sync: function (f) {
      syncing = false;
      f.messages.forEach(function (m) { apply(m, true); });
      if (f.last_seq > lastSeq) lastSeq = f.last_seq;
      if (f.expired_before) dropExpired(f.expired_before - 1);
      if (!f.complete) requestSync();
    },
    message: function (f) {
      sawSeq(f.message.seq);
      apply(f.message, true);
    },
    sent: function (f) {
      sawSeq(f.message.seq);
      apply(f.message, true);
    },
    presence: function (f) {
      if (f.event === "list") {
        online.clear();
        f.online.forEach(function (p) { online.set(p.member, p.name); });
      } else if (f.event === "join") {
        online.set(f.member, f.name);
      } else if (f.event === "leave") {
        online.delete(f.member);
      }
      renderOnline();
    },
    typing: function (f) {
      var line = el("chat-typing");
      clearTimeout(typingTimers.get(f.member));
      line.textContent = f.name + " " + S.typing;
      typingTimers.set(f.member, setTimeout(function () { line.textContent = ""; }, 3000));
    },
    devices: function (f) {
      devices = f.devices;
      epoch = f.epoch;
      established = f.established;
      renderDevices();
      if (!established) claimEpoch(devices);
      else wrapForMissing(devices);
      updateKeyState();
    },
    device: function (f) {
      devices.push(f.device);
      renderDevices();
      if (keys[epoch]) scheduleWrap();
    },
    keys: function (f) { acceptWraps(f.wraps); },
    wrapped: function () {
      established = true;
      if (keys[epoch]) rememberKey(epoch, keys[epoch]);
      send({ type: "devices" });
    },
    rotate: function (f) {
      epoch = f.epoch;
      established = false;
      updateKeyState(S.rotated);
      scheduleClaim();
    },
    channel: function (f) {
      archived = f.archived;
      retentionDays = f.retention_days;
      form.hidden = archived;
      el("chat-title").textContent = "#" + f.name;
      updateKeyState();
    },
    expired: function (f) { dropExpired(f.up_to_id); },
    pong: function () {},
    error: function (f) {
      root.dataset.lastError = f.code;
      if (f.code === "epoch_taken") {
        // Someone else made the key first; ours is discarded, theirs will come.
        delete keys[epoch];
        established = true;
        updateKeyState();
        send({ type: "devices" });
      } else if (f.code === "wrong_epoch") {
        send({ type: "devices" });
      } else if (f.code === "removed" || f.code === "forbidden") {
        messages.clear();
        plain.clear();
        log.textContent = "";
        closedForGood = true;
      } else {
        connection.textContent = S.error + " " + f.message;
      }
    },
  };

  // --- user actions ------------------------------------------------------------------
  function startEdit(id) {
    editingId = id;
    input.value = plain.get(id) || "";
    el("chat-cancel-edit").hidden = false;
    input.focus();
  }
  function stopEdit() {
    editingId = null;
    input.value = "";
    el("chat-cancel-edit").hidden = true;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || !keys[epoch]) return;
    var id = editingId;
    encrypt(text).then(function (payload) {
      payload.type = id ? "edit" : "send";
      payload.ref = ++refCounter;
      if (id) payload.id = id;
      if (send(payload)) {
        stopEdit();
        unreadShown = false;
        var marker = log.querySelector(".chat-unread");
        if (marker) marker.remove();
      }
    });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape" && editingId) {
      stopEdit();
    }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTypingSent > 2500) {
      lastTypingSent = now;
      send({ type: "typing" });
    }
  });
  el("chat-cancel-edit").addEventListener("click", stopEdit);
  function loadOlder() {
    if (oldestId !== null && hasMore && !loadingOlder) {
      loadingOlder = true;
      send({ type: "history", before: oldestId });
    }
  }
  el("chat-older").addEventListener("click", loadOlder);
  log.addEventListener("scroll", function () { if (log.scrollTop < 20) loadOlder(); });
  el("chat-invite-button").addEventListener("click", showKeyLink);
  log.addEventListener("scroll", markRead);
  document.addEventListener("visibilitychange", markRead);
  setInterval(function () {
    send({ type: "ping" });
    // Big channels do not announce every join and leave: refresh the list.
    if (online.size >= 100) send({ type: "who" });
    dropByRetention();
  }, 25000);

  // --- start ------------------------------------------------------------------------------
  if (!subtle || !window.indexedDB) {
    keyState.hidden = false;
    keyState.textContent = S.noCrypto;
    setState("closed", S.noCrypto);
    return;
  }
  keyFromFragment()
    .then(loadDevice)
    .then(loadKeys)
    .then(function () { return idbGet("state", "read:" + channelId); })
    .then(function (read) { lastReadId = Number(read || 0); })
    .then(connect)
    .catch(function (err) {
      keyState.hidden = false;
      keyState.textContent = S.noCrypto + " (" + err + ")";
      setState("closed");
    });
})();
