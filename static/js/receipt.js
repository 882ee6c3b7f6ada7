// The receipt page: check status and withdraw, sending the receipt without
// cookies (docs/signing-protocol.md, /api/v1/receipts/...).
//
// Each action does one thing however often it is pressed: while a request
// runs, the buttons are disabled and further presses are ignored.
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

  async function post(url, receipt) {
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ receipt: receipt }),
      });
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      return { status: response.status, body: body };
    } catch (e) {
      return { status: 0, body: { message: data.msgNetwork } };
    }
  }

  function statusText(status) {
    if (status === "counted") return data.msgCounted;
    if (status === "pending") return data.msgPending;
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
    if (body.letter && body.letter.state === "delivered") {
      const date = delivered.length ? formatDate(delivered[0].delivered_at) : "";
      return date ? fill(data.msgNoWithdrawDeliveredOn, { date: date }) : data.msgNoWithdrawDelivered;
    }
    return data.msgNoWithdraw;
  }

  function render(answer) {
    $("receipt-error").textContent = "";
    if (answer.status !== 200) {
      $("receipt-result").hidden = true;
      $("receipt-error").textContent = answer.body.message || ("Error " + answer.status);
      return;
    }
    const body = answer.body;
    $("receipt-result").hidden = false;
    $("receipt-status").textContent = statusText(body.status);
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
      if (text) render(await post(data.apiStatus, text));
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
      render(await post(data.apiStatus, found));
    });
  });

  $("withdraw").addEventListener("click", function () {
    exclusive(async function () {
      const text = receipt();
      if (!text || !window.confirm(data.msgConfirm)) return;
      render(await post(data.apiWithdraw, text));
    });
  });
})();
