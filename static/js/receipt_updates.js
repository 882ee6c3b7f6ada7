// The receipt page's list of the signed letter's updates (templates/signatures/
// _receipt_updates.html). receipt.js sends a "receipt:status" event on the
// document with the receipt status answer; its "updates" are listed here as
// text (never as HTML).
(function () {
  "use strict";

  const section = document.getElementById("receipt-updates");
  if (!section) return;
  const list = document.getElementById("receipt-updates-list");
  const none = document.getElementById("receipt-updates-none");
  const data = section.dataset;

  function day(iso) {
    return iso ? iso.slice(0, 10) : "";
  }

  function item(update) {
    const li = document.createElement("li");
    li.className = "update";
    const title = document.createElement("h3");
    title.className = "update-title";
    title.textContent = update.title;
    const meta = document.createElement("p");
    meta.className = "update-meta muted";
    const time = document.createElement("time");
    time.dateTime = update.published;
    time.textContent = day(update.published);
    meta.appendChild(time);
    if (update.edited) meta.appendChild(document.createTextNode(" · " + data.msgEdited + " " + day(update.edited)));
    li.append(title, meta);
    if (update.text) {
      const text = document.createElement("p");
      text.className = "update-text";
      text.textContent = update.text;
      li.appendChild(text);
    }
    const link = document.createElement("a");
    link.href = update.url;
    link.textContent = data.msgRead;
    const more = document.createElement("p");
    more.appendChild(link);
    li.appendChild(more);
    return li;
  }

  document.addEventListener("receipt:status", function (event) {
    const body = event.detail || {};
    list.textContent = "";
    if (!Array.isArray(body.updates)) {
      section.hidden = true;
      return;
    }
    for (const update of body.updates) list.appendChild(item(update));
    none.textContent = data.msgNone;
    none.hidden = body.updates.length > 0;
    section.hidden = false;
  });
})();
