// The receipt page: check status and withdraw, sending the receipt without
// cookies (docs/signing-protocol.md, /api/v1/receipts/...).
(function () {
  "use strict";

  const app = document.getElementById("receipt-app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const data = app.dataset;
  app.hidden = false;

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

  function render(answer) {
    // Other parts of the page (the letter's updates) read the answer too.
    const detail = answer.status === 200 ? answer.body : {};
    document.dispatchEvent(new CustomEvent("receipt:status", { detail: detail }));
    $("receipt-error").textContent = "";
    if (answer.status !== 200) {
      $("receipt-result").hidden = true;
      $("receipt-error").textContent = answer.body.message || ("Error " + answer.status);
      return;
    }
    const body = answer.body;
    $("receipt-result").hidden = false;
    $("receipt-status").textContent =
      body.status === "withdrawn" ? data.msgWithdrawn : data.msgCounted;
    $("receipt-letter").textContent = data.msgLetter + " " + body.letter.title;
    const list = $("receipt-exports");
    list.textContent = "";
    for (const item of body.exports || []) {
      const li = document.createElement("li");
      li.textContent = (item.created || "") + " " + (item.id || "");
      list.appendChild(li);
    }
    $("withdraw").hidden = !body.can_withdraw;
  }

  const receipt = () => $("receipt-input").value.trim();

  $("receipt-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    render(await post(data.apiStatus, receipt()));
  });

  $("withdraw").addEventListener("click", async function () {
    if (!window.confirm(data.msgConfirm)) return;
    render(await post(data.apiWithdraw, receipt()));
  });
})();
