// The signing page: verify, get a blind token, sign without cookies.
// Protocol: docs/signing-protocol.md. Blind RSA: static/vendor/blindrsa.js.
//
// State lives in localStorage under "org-sign:<slug>:<key id>", so a token
// survives a reload and an optional delay:
//   {stage: "token", token, signature}                      (unblinded token)
//   {stage: "pending", token, signature, fields, sendAt}    (waiting to send)
// It is removed once the signature is accepted (or the token turns out spent).
//
// Every action does one thing however often it is pressed: while one runs,
// the page's buttons are disabled and further presses (or Enter) are ignored.
(function () {
  "use strict";

  const app = document.getElementById("sign-app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const data = app.dataset;
  const storageKey = "org-sign:" + data.slug + ":" + data.keyId;
  const statusEl = $("sign-status");
  const errorEl = $("sign-error");
  const CONTEXT = "organizing-token-v1";

  const ADJECTIVES = ["Quiet", "Brave", "Steady", "Bright", "Patient", "Bold", "Kind",
    "Swift", "Calm", "Clever", "Gentle", "Keen", "Loyal", "Proud", "Wise", "Warm"];
  const ANIMALS = ["Heron", "Otter", "Finch", "Badger", "Lynx", "Wren", "Fox", "Marten",
    "Puffin", "Hare", "Owl", "Seal", "Crane", "Robin", "Beaver", "Falcon"];

  function randomInt(n) {
    const buf = new Uint32Array(1);
    crypto.getRandomValues(buf);
    return buf[0] % n;
  }

  function suggestPseudonym() {
    return ADJECTIVES[randomInt(ADJECTIVES.length)] + " " +
      ANIMALS[randomInt(ANIMALS.length)] + " " + (10 + randomInt(90));
  }

  function say(text) { statusEl.textContent = text || ""; }
  function fail(text) { errorEl.textContent = text || ""; }

  function load() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "null"); }
    catch (e) { return null; }
  }
  function save(state) { localStorage.setItem(storageKey, JSON.stringify(state)); }
  function clear() { localStorage.removeItem(storageKey); }

  function show(step) {
    for (const id of ["step-verify", "step-sign", "step-wait", "step-done"]) {
      $(id).hidden = id !== step;
    }
  }

  function hexToBytes(hex) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function tokenMessage() {
    const context = new TextEncoder().encode(CONTEXT);
    const textHash = hexToBytes(data.textHash);
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const msg = new Uint8Array(context.length + textHash.length + nonce.length);
    msg.set(context, 0);
    msg.set(textHash, context.length);
    msg.set(nonce, context.length + textHash.length);
    return msg;
  }

  async function postJSON(url, body, withSession) {
    const headers = { "Content-Type": "application/json" };
    if (withSession) {
      headers["X-CSRFToken"] = app.querySelector("input[name=csrfmiddlewaretoken]").value;
    }
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        // Only the account proof needs the session; nothing else sends cookies.
        credentials: withSession ? "same-origin" : "omit",
        headers: headers,
        body: JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      return { status: 0, body: { message: data.msgNetwork } };
    }
    let parsed = {};
    try { parsed = await response.json(); } catch (e) { parsed = {}; }
    return { status: response.status, body: parsed };
  }

  // --- one action at a time ---------------------------------------------------------

  let busy = false;

  // fn runs alone: while it runs every button of the page is disabled, and a
  // second press, a double click or Enter is ignored.
  async function exclusive(fn) {
    if (busy) return;
    busy = true;
    const disabled = [];
    for (const button of app.querySelectorAll("button")) {
      if (!button.disabled) {
        button.disabled = true;
        disabled.push(button);
      }
    }
    app.setAttribute("aria-busy", "true");
    try { await fn(); }
    catch (e) { say(""); fail(e && e.message ? e.message : String(e)); }
    finally {
      for (const button of disabled) button.disabled = false;
      app.removeAttribute("aria-busy");
      busy = false;
    }
  }

  function action(fn) {
    return function (event) {
      if (event) event.preventDefault();
      return exclusive(fn);
    };
  }

  // Refuse before sending: an empty field gets a request to fill it in.
  function missing(input, message) {
    if (input.value.trim()) return false;
    say("");
    fail(message);
    input.focus();
    return true;
  }

  // --- the figures --------------------------------------------------------------------

  const figures = $("sign-figures");

  function plural(n, one, other) {
    let form = "other";
    try { form = new Intl.PluralRules(document.documentElement.lang || "en").select(n); }
    catch (e) { form = n === 1 ? "one" : "other"; }
    return form === "one" ? one : other;
  }

  // Re-read the figures from the letter API (cached there for a few
  // seconds, so once more after that). Returns the letter's answer, or null.
  async function refreshFigures(again) {
    if (!figures) return null;
    let letter;
    try {
      const response = await fetch(figures.dataset.apiLetter, { credentials: "omit", cache: "no-store" });
      if (!response.ok) return null;
      letter = await response.json();
      const f = figures.dataset;
      $("figure-count").textContent = plural(letter.count, f.countOne, f.countOther)
        .replace("%(counter)s", String(letter.count)).replace("%(goal)s", String(letter.goal));
      $("figure-tokens").textContent = plural(letter.tokens_issued, f.tokensOne, f.tokensOther)
        .replace("%(counter)s", String(letter.tokens_issued));
      const size = letter.log && letter.log.tree_size;
      if (Number.isInteger(size)) {
        $("figure-log").textContent = f.logSize.replace("%(size)s", String(size));
      }
    } catch (e) {
      return null;  // the figures stay as they were; nothing else depends on them
    }
    if (again) setTimeout(() => refreshFigures(false), 1000 * parseInt(figures.dataset.refreshSeconds, 10));
    return letter;
  }

  // "Counted in the next batch, within about N minutes": N from the letter
  // API read just after signing, else from when the page was loaded.
  function batchText(minutes) {
    if (!Number.isInteger(minutes)) return "";
    if (minutes === 0) return data.batchWhenFull;
    return plural(minutes, data.batchWithinOne, data.batchWithinOther)
      .replace("%(minutes)s", String(minutes));
  }

  function showBatch(letter) {
    const note = $("done-batch");
    let minutes = letter ? letter.next_batch_within_minutes : null;
    if (!Number.isInteger(minutes) && data.batchMinutes !== "") minutes = parseInt(data.batchMinutes, 10);
    note.textContent = batchText(minutes);
    note.hidden = !note.textContent;
  }

  // --- 1. verify and get a token ------------------------------------------------

  async function obtainToken(proof) {
    fail("");
    say(data.msgWorking);
    const rsa = window.OrgBlindRSA;
    const blinded = await rsa.prepareAndBlind(data.publicKey, tokenMessage());
    const answer = await postJSON(data.apiTokens, {
      blinded_msg: rsa.b64urlEncode(blinded.blindedMsg),
      proof: proof,
    }, proof.type === "account");
    if (answer.status !== 200) {
      say("");
      fail(answer.body.message || ("Error " + answer.status));
      return;
    }
    const sig = await rsa.finalize(
      data.publicKey, blinded.preparedMsg, rsa.b64urlDecode(answer.body.blind_sig), blinded.inv);
    save({
      stage: "token",
      token: rsa.b64urlEncode(blinded.preparedMsg),
      signature: rsa.b64urlEncode(sig),
    });
    say(data.msgTokenOk);
    showSignForm();
    refreshFigures(false);
  }

  function chosenMethod() {
    const checked = app.querySelector("input[name=method]:checked");
    return checked ? checked.value : "invite";
  }

  function showMethod() {
    const method = chosenMethod();
    for (const form of app.querySelectorAll(".method")) {
      form.hidden = !form.classList.contains("method-" + method);
    }
  }

  const emailForm = $("email-form");
  if (emailForm) {
    let codesSent = 0;
    emailForm.addEventListener("submit", action(async function () {
      fail("");
      if (missing($("email"), data.msgNeedEmail)) return;
      say(data.msgWorking);
      const answer = await postJSON(data.apiEmail, { email: $("email").value }, false);
      if (answer.status === 202) {
        // A new code replaces the earlier one: a code typed from an older
        // email would only fail, so it goes.
        $("email-code").value = "";
        say(codesSent ? data.msgNewCodeSent : data.msgCodeSent);
        codesSent += 1;
        $("send-code").textContent = $("send-code").dataset.labelAgain;
        $("email-code").focus();
      } else {
        say("");
        fail(answer.body.message || ("Error " + answer.status));
      }
    }));
    $("email-code-form").addEventListener("submit", action(async function () {
      fail("");
      if (missing($("email"), data.msgNeedEmail)) return;
      if (missing($("email-code"), data.msgNeedCode)) return;
      await obtainToken({ type: "email_code", email: $("email").value, code: $("email-code").value });
    }));
  }
  $("invite-form").addEventListener("submit", action(async function () {
    fail("");
    if (missing($("invite-code"), data.msgNeedInvite)) return;
    await obtainToken({ type: "invite_code", code: $("invite-code").value });
  }));
  const accountForm = $("account-form");
  if (accountForm) {
    accountForm.addEventListener("submit", action(async function () {
      await obtainToken({ type: "account" });
    }));
  }
  for (const radio of app.querySelectorAll("input[name=method]")) {
    radio.addEventListener("change", function () { fail(""); showMethod(); });
  }

  // An invite sheet's QR code opens /letters/<slug>/sign/#invite=CODE: fill
  // the code in and choose the invite method. The fragment never reaches the
  // server; it is taken out of the address (and so out of the history) at once.
  function inviteFromLink() {
    const match = /(?:^#|&)invite=([^&]*)/.exec(location.hash);
    if (!match) return false;
    let code = "";
    try { code = decodeURIComponent(match[1].replace(/\+/g, " ")).trim(); }
    catch (e) { code = ""; }
    history.replaceState(history.state, "", location.pathname + location.search);
    if (!code) return false;
    app.querySelector("input[name=method][value=invite]").checked = true;
    $("invite-code").value = code.slice(0, 40);
    showMethod();
    return true;
  }

  // --- 2. sign ----------------------------------------------------------------------

  function showSignForm() {
    show("step-sign");
    if (!$("pseudonym").value) $("pseudonym").value = suggestPseudonym();
    // The step's heading, not a field: an Enter pressed twice to verify
    // must not land in the sign form and send it.
    $("sign-title").focus();
  }

  $("suggest").addEventListener("click", function () {
    $("pseudonym").value = suggestPseudonym();
  });

  function formFields() {
    const fields = {
      pseudonym: $("pseudonym").value,
      attestations: Array.from(app.querySelectorAll("input[name=attestation]:checked"))
        .map((box) => parseInt(box.value, 10)),
    };
    for (const [id, name] of [["public-name", "public_name"], ["department", "department"],
      ["location", "location"], ["comment", "comment"]]) {
      const value = $(id).value.trim();
      if (value) fields[name] = value;
    }
    const revealAt = $("reveal-at").value.trim();
    if (revealAt) fields.reveal_at = parseInt(revealAt, 10);
    return fields;
  }

  let waitTimer = null;

  function scheduleSend(state) {
    show("step-wait");
    const when = new Date(state.sendAt);
    $("wait-until").textContent = data.msgWaiting + " " + when.toLocaleTimeString() + ".";
    clearTimeout(waitTimer);
    waitTimer = setTimeout(function () { exclusive(submit); },
      Math.max(0, state.sendAt - Date.now()));
  }

  $("sign-form").addEventListener("submit", action(async function () {
    fail("");
    const state = load();
    if (!state || state.stage !== "token") return;
    if (missing($("pseudonym"), data.msgNeedPseudonym)) return;
    const unchecked = app.querySelector("input[name=attestation]:not(:checked)");
    if (unchecked) {
      fail(data.msgNeedStatements);
      unchecked.focus();
      return;
    }
    const delay = parseInt($("delay").value, 10) || 0;
    const pending = {
      stage: "pending",
      token: state.token,
      signature: state.signature,
      fields: formFields(),
      sendAt: Date.now() + (delay ? randomInt(delay * 1000) : 0),
    };
    save(pending);
    if (delay) scheduleSend(pending);
    else await submit();
  }));

  $("send-now").addEventListener("click", action(async function () {
    clearTimeout(waitTimer);
    await submit();
  }));

  async function submit() {
    const state = load();
    if (!state || state.stage !== "pending") return;
    say(data.msgWorking);
    const body = Object.assign({ token: state.token, signature: state.signature }, state.fields);
    const answer = await postJSON(data.apiSignatures, body, false);
    if (answer.status === 201) {
      clear();
      say(data.msgSigned);
      showReceipt(answer.body.receipt);
      $("done-batch").hidden = true;
      const letter = await refreshFigures(true);
      // "pending": accepted, counted when its batch is sealed.
      if (answer.body.status === "pending") showBatch(letter);
      return;
    }
    say("");
    if (answer.status === 409) {
      clear();
      show("step-verify");
      fail(data.msgSpent);
      return;
    }
    // Anything else: back to the form, token kept, so the signer can fix it.
    save({ stage: "token", token: state.token, signature: state.signature });
    show("step-sign");
    fail(answer.body.message || ("Error " + answer.status));
  }

  // --- 3. receipt ----------------------------------------------------------------

  function receiptFileText(receipt) {
    // receipt.js finds the receipt in this text when the whole file is pasted.
    return data.msgReceiptFile + "\n\n" + data.title + "\n" + receipt + "\n\n" +
      new URL(data.receiptUrl, location.href).href + "\n";
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return true; }
      catch (e) { /* fall back to selecting the field */ }
    }
    const field = $("receipt");
    field.focus();
    field.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function showReceipt(receipt) {
    show("step-done");
    $("receipt").value = receipt;
    $("done-title").focus();
    $("copy-receipt").onclick = action(async function () {
      const copied = await copyText(receipt);
      $("receipt-copy-status").textContent = copied ? data.msgCopied : data.msgCopyFailed;
    });
    $("download-receipt").onclick = action(async function () {
      const url = URL.createObjectURL(new Blob([receiptFileText(receipt)], { type: "text/plain" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = "receipt-" + data.slug + ".txt";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      // One file per press, not one per click of a double click.
      await new Promise((resolve) => setTimeout(resolve, 800));
    });
  }

  // --- start ------------------------------------------------------------------------

  if (!window.crypto || !window.crypto.subtle || !window.OrgBlindRSA) {
    app.hidden = false;
    show("");
    fail(data.msgNocrypto);
    return;
  }
  app.hidden = false;
  showMethod();
  const invited = inviteFromLink();
  const state = load();
  if (state && state.stage === "pending") {
    if (state.fields) {
      $("pseudonym").value = state.fields.pseudonym || "";
    }
    scheduleSend(state);
  } else if (state && state.stage === "token") {
    showSignForm();
  } else {
    show("step-verify");
    if (invited) {
      say(data.msgInviteFromLink);
      $("verify-invite").focus();
    }
  }
})();
