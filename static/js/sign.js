// The signing page: verify, get a blind token, sign without cookies.
// Protocol: docs/signing-protocol.md. Blind RSA: static/vendor/blindrsa.js.
//
// State lives in localStorage under "org-sign:<slug>:<key id>", so a token
// survives a reload and an optional delay:
//   {stage: "token", token, signature}                      (unblinded token)
//   {stage: "pending", token, signature, fields, sendAt}    (waiting to send)
// It is removed once the signature is accepted (or the token turns out spent).
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
  }

  function guard(fn) {
    return async function (event) {
      if (event) event.preventDefault();
      try { await fn(event); }
      catch (e) { say(""); fail(e && e.message ? e.message : String(e)); }
    };
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
    emailForm.addEventListener("submit", guard(async function () {
      fail("");
      say(data.msgWorking);
      const answer = await postJSON(data.apiEmail, { email: $("email").value }, false);
      if (answer.status === 202) {
        say(data.msgCodeSent);
        $("email-code").focus();
      } else {
        say("");
        fail(answer.body.message || ("Error " + answer.status));
      }
    }));
    $("verify-email").addEventListener("click", guard(async function () {
      await obtainToken({ type: "email_code", email: $("email").value, code: $("email-code").value });
    }));
  }
  $("invite-form").addEventListener("submit", guard(async function () {
    await obtainToken({ type: "invite_code", code: $("invite-code").value });
  }));
  const accountForm = $("account-form");
  if (accountForm) {
    accountForm.addEventListener("submit", guard(async function () {
      await obtainToken({ type: "account" });
    }));
  }
  for (const radio of app.querySelectorAll("input[name=method]")) {
    radio.addEventListener("change", showMethod);
  }

  // --- 2. sign ----------------------------------------------------------------------

  function showSignForm() {
    show("step-sign");
    if (!$("pseudonym").value) $("pseudonym").value = suggestPseudonym();
    $("pseudonym").focus();
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
    waitTimer = setTimeout(guard(submit), Math.max(0, state.sendAt - Date.now()));
  }

  $("sign-form").addEventListener("submit", guard(async function () {
    fail("");
    const state = load();
    if (!state) return;
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

  $("send-now").addEventListener("click", guard(async function () {
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

  function showReceipt(receipt) {
    show("step-done");
    $("receipt").value = receipt;
    $("done-title").focus();
    $("download-receipt").onclick = function () {
      const text = data.msgReceiptFile + "\n\n" + data.title + "\n" + receipt + "\n\n" +
        new URL(data.receiptUrl, location.href).href + "\n";
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = "receipt-" + data.slug + ".txt";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    };
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
  }
})();
