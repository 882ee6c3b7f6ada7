// The receipt page: check status and withdraw, sending the receipt without
// cookies (docs/signing-protocol.md, /api/v1/receipts/...).
//
// Each action does one thing however often it is pressed: while a request
// runs, the buttons are disabled and further presses are ignored.
//
// A status answer with a place in the letter's log is checked here, in the
// browser (static/js/log-check.js): the checkpoint's signature against the
// letter's log key, the signature's entry, the inclusion proof. The last
// checkpoint verified for each letter is kept in localStorage under
// "org-log:<slug>" ({size, root, verifierKey}); the next check asks the
// server for the consistency proof from it ("since") and verifies that the
// log only grew. A checkpoint that fails is never kept.
(function () {
  "use strict";

  const app = document.getElementById("receipt-app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const data = app.dataset;
  const lang = document.documentElement.lang || undefined;
  app.hidden = false;

  // A receipt is 43 characters of base64url (32 random bytes); the API takes
  // 20 to 128. The downloaded file (sign.js) holds a sentence, the letter's
  // title, the receipt on a line of its own and the page's address.
  const RECEIPT = /^[A-Za-z0-9_-]{20,128}$/;

  // The receipt in what was pasted: the text itself when it is one, else the
  // line (or word) that looks like one, preferring the usual length; else
  // the text as it is, for the server to refuse with its reason.
  function extractReceipt(text) {
    const trimmed = text.trim();
    if (RECEIPT.test(trimmed)) return trimmed;
    const pick = (items) => {
      const found = items.filter((item) => RECEIPT.test(item));
      return found.find((item) => item.length === 43) || found[found.length - 1];
    };
    const lines = trimmed.split(/\r?\n/).map((line) => line.trim());
    return pick(lines) || pick(trimmed.split(/\s+/)) || trimmed;
  }

  function formatDate(iso) {
    const date = new Date(iso);
    if (!iso || isNaN(date.getTime())) return "";
    try {
      return date.toLocaleDateString(lang, { year: "numeric", month: "long", day: "numeric" });
    } catch (e) {
      return date.toDateString();
    }
  }

  function fill(message, values) {
    return message.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
  }

  async function post(url, payload) {
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      return { status: response.status, body: body };
    } catch (e) {
      return { status: 0, body: { message: data.msgNetwork } };
    }
  }

  function plural(n, one, other) {
    let form = "other";
    try { form = new Intl.PluralRules(lang || "en").select(n); }
    catch (e) { form = n === 1 ? "one" : "other"; }
    return form === "one" ? one : other;
  }

  function statusText(body) {
    const status = body.status;
    if (status === "counted") return data.msgCounted;
    if (status === "pending") {
      const minutes = body.next_batch_within_minutes;
      if (!Number.isInteger(minutes) || minutes < 0) return data.msgPending;
      if (minutes === 0) return data.msgPendingWhenFull;
      return fill(plural(minutes, data.msgPendingWithinOne, data.msgPendingWithinOther),
        { minutes: String(minutes) });
    }
    if (status === "withdrawn") return data.msgWithdrawn;
    return fill(data.msgStatusOther, { status: String(status) });
  }

  function exportItem(item, message) {
    const li = document.createElement("li");
    li.append(message + " ");
    if (item.url) {
      const link = document.createElement("a");
      link.href = item.url;
      link.textContent = data.msgCheckExport;
      li.append(link);
    }
    return li;
  }

  function whyNoWithdraw(body, delivered) {
    if (body.status === "withdrawn") return data.msgNoWithdrawWithdrawn;
    if (body.withdrawal_pending) return data.msgWithdrawalPending;
    if (body.letter && body.letter.state === "delivered") {
      const date = delivered.length ? formatDate(delivered[0].delivered_at) : "";
      return date ? fill(data.msgNoWithdrawDeliveredOn, { date: date }) : data.msgNoWithdrawDelivered;
    }
    return data.msgNoWithdraw;
  }

  function render(answer) {
    // Other parts of the page (the letter's updates) read the answer too.
    const detail = answer.status === 200 ? answer.body : {};
    document.dispatchEvent(new CustomEvent("receipt:status", { detail: detail }));
    $("receipt-error").textContent = "";
    if (answer.status !== 200) {
      $("receipt-result").hidden = true;
      $("receipt-error").textContent = answer.body.message || ("Error " + answer.status);
      return false;
    }
    const body = answer.body;
    $("receipt-result").hidden = false;
    $("receipt-status").textContent = statusText(body);
    $("receipt-letter").textContent = data.msgLetter + " " + ((body.letter && body.letter.title) || "");
    $("receipt-pseudonym").textContent = body.pseudonym ? data.msgPseudonym + " " + body.pseudonym : "";
    // What the organizers hid of the public text and why (a sentence from the server).
    $("receipt-moderation").textContent = (body.moderation && body.moderation.message) || "";
    $("receipt-moderation").hidden = !body.moderation;
    // Only a delivered export is shown as delivered. Exports that were made
    // but not delivered are shown only until one is delivered: then they
    // are drafts the delivered petition superseded.
    const exports = body.exports || [];
    const delivered = exports.filter((item) => item.delivered_at);
    const list = $("receipt-exports");
    list.textContent = "";
    if (delivered.length) {
      for (const item of delivered) {
        list.append(exportItem(item, fill(data.msgDeliveredExport, { date: formatDate(item.delivered_at) })));
      }
    } else if (body.status !== "withdrawn") {
      for (const item of exports) {
        list.append(exportItem(item, fill(data.msgPreparedExport, { date: formatDate(item.created) })));
      }
    }
    list.hidden = !list.children.length;
    $("withdraw").hidden = !body.can_withdraw;
    $("withdraw-note").hidden = !!body.can_withdraw;
    $("withdraw-note").textContent = body.can_withdraw ? "" : whyNoWithdraw(body, delivered);
    return true;
  }

  // --- the letter's log, checked here ------------------------------------------------

  const LOG = window.OrgLogCheck;
  // An unlisted letter's API and log answer only with the key of its link,
  // which the signing page passes on to this page's address.
  const linkKey = new URLSearchParams(location.search).get("key");

  function withKey(url) {
    if (!linkKey) return url;
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "key=" + encodeURIComponent(linkKey);
  }

  class Unreachable extends Error {
    constructor(status) { super("HTTP " + status); this.status = status; }
  }

  async function get(url) {
    let response;
    try { response = await fetch(withKey(url), { credentials: "omit", cache: "no-store" }); }
    catch (e) { throw new Unreachable(0); }
    if (!response.ok) throw new Unreachable(response.status);
    return response;
  }

  const keptName = (slug) => "org-log:" + slug;

  function loadKept(slug) {
    try {
      const kept = JSON.parse(localStorage.getItem(keptName(slug)) || "null");
      if (kept && Number.isSafeInteger(kept.size) && kept.size > 0 &&
          typeof kept.root === "string" && typeof kept.verifierKey === "string") return kept;
    } catch (e) { /* unreadable: as if none */ }
    return null;
  }

  function saveKept(slug, kept) {
    try { localStorage.setItem(keptName(slug), JSON.stringify(kept)); }
    catch (e) { /* storage full or refused: the next check starts afresh */ }
  }

  // state: "checking", "ok", "failed" (loud) or "neutral" (not checked, no
  // sign of tampering: an old browser, a network error).
  function showLog(state, title, reason, note) {
    const box = $("receipt-log");
    box.hidden = false;
    box.className = "log-check" + (state === "ok" ? " log-check-ok" : state === "failed" ? " log-check-failed" : "");
    box.setAttribute("role", state === "failed" ? "alert" : "status");
    $("receipt-log-title").textContent = title || "";
    $("receipt-log-reason").textContent = reason || "";
    $("receipt-log-reason").hidden = !reason;
    $("receipt-log-note").textContent = note || "";
    $("receipt-log-note").hidden = !note;
  }

  function hideLog() { $("receipt-log").hidden = true; }

  const REASONS = {
    "key": "logWhyKey", "key-changed": "logWhyKeyChanged", "note": "logWhyNote",
    "checkpoint": "logWhyCheckpoint", "size": "logWhySize", "entry": "logWhyEntry",
    "proof": "logWhyProof", "inclusion": "logWhyInclusion", "consistency": "logWhyConsistency",
    "shrunk": "logWhyShrunk",
  };

  function failed(error) {
    if (!(error instanceof LOG.LogCheckError) || error.code === "fetch") {
      showLog("neutral", data.logUnreachable);
    } else if (error.code === "unsupported") {
      showLog("neutral", data.logUnsupported);
    } else {
      const why = data[REASONS[error.code]] || error.message;
      showLog("failed", data.logFailed, fill(why, error.details || {}), data.logAdvice);
    }
  }

  // Check the log object of a status answer; `receipt` asks again with
  // "since" when a checkpoint of this letter was kept before.
  async function checkLog(receipt, body) {
    // Only a place in the log is checked: {index, tree_size, proof}; a log
    // object of another shape (a newer server's) is left alone.
    const place = body.log;
    if (!place || !body.letter || !Number.isInteger(place.index) || !Number.isInteger(place.tree_size)) {
      hideLog();
      return;
    }
    showLog("checking", data.logChecking);
    if (!LOG || !window.crypto || !window.crypto.subtle) { showLog("neutral", data.logUnsupported); return; }
    const slug = body.letter.slug;
    let letter;
    try {
      letter = await (await get(data.apiLetters + encodeURIComponent(slug))).json();
    } catch (e) {
      showLog("neutral", e instanceof Unreachable && e.status === 404 ? data.logNotPublic : data.logUnreachable);
      return;
    }
    if (!letter.log) { showLog("neutral", data.logNone); return; }
    const verifierKey = letter.log.verifier_key;
    const kept = loadKept(slug);
    let log = body.log;
    if (kept && kept.size <= log.tree_size) {
      const again = await post(data.apiStatus, { receipt: receipt, since: kept.size });
      if (again.status !== 200 || !again.body.log) { showLog("neutral", data.logUnreachable); return; }
      render(again);
      log = again.body.log;
    }
    // A kept checkpoint larger than this tree is caught by the check ("shrunk").
    const base = letter.log.checkpoint_url.replace(/checkpoint$/, "");
    let result;
    try {
      result = await LOG.checkReceiptLog({
        origin: letter.log.origin,
        verifierKey: verifierKey,
        log: log,
        kept: kept,
        fetchText: async (path) => (await get(base + path)).text(),
        fetchBytes: async (path) => new Uint8Array(await (await get(base + path)).arrayBuffer()),
      });
    } catch (e) {
      failed(e);
      return;
    }
    saveKept(slug, { size: result.size, root: result.root, verifierKey: verifierKey });
    let note = data.logFirst;
    if (result.grewFrom !== null) {
      note = result.grewFrom === result.size
        ? fill(data.logSame, { size: result.size })
        : fill(data.logGrew, { from: result.grewFrom, to: result.size });
    }
    showLog("ok", fill(data.logIncluded, { size: result.size }),
      fill(data.logIncludedDetail, { index: result.index }), note);
  }

  async function checkStatus(receipt) {
    const answer = await post(data.apiStatus, { receipt: receipt });
    hideLog();
    if (render(answer)) await checkLog(receipt, answer.body);
  }

  let busy = false;

  // fn runs alone, with the page's buttons disabled meanwhile.
  async function exclusive(fn) {
    if (busy) return;
    busy = true;
    const buttons = Array.from(app.querySelectorAll("button")).filter((b) => !b.disabled);
    for (const button of buttons) button.disabled = true;
    app.setAttribute("aria-busy", "true");
    try { await fn(); }
    finally {
      for (const button of buttons) button.disabled = false;
      app.removeAttribute("aria-busy");
      busy = false;
    }
  }

  // The receipt to send, with the field showing exactly that; null (and a
  // request to paste it) when the field is empty.
  function receipt() {
    const input = $("receipt-input");
    const found = extractReceipt(input.value);
    if (!found) {
      $("receipt-result").hidden = true;
      $("receipt-error").textContent = data.msgNeedReceipt;
      input.focus();
      return null;
    }
    input.value = found;
    return found;
  }

  $("receipt-form").addEventListener("submit", function (event) {
    event.preventDefault();
    exclusive(async function () {
      const text = receipt();
      if (text) await checkStatus(text);
    });
  });

  $("receipt-file").addEventListener("change", function () {
    const file = this.files && this.files[0];
    if (!file) return;
    exclusive(async function () {
      let text = "";
      try { text = file.size <= 65536 ? await file.text() : ""; } catch (e) { text = ""; }
      const found = text ? extractReceipt(text) : "";
      if (!found || !RECEIPT.test(found)) {
        $("receipt-error").textContent = data.msgFileUnreadable;
        return;
      }
      $("receipt-input").value = found;
      await checkStatus(found);
    });
  });

  $("withdraw").addEventListener("click", function () {
    exclusive(async function () {
      const text = receipt();
      if (!text || !window.confirm(data.msgConfirm)) return;
      render(await post(data.apiWithdraw, { receipt: text }));
    });
  });
})();
