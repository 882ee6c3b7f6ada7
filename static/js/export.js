// Petition export page: poll the job's status and update the progress bar
// without reloading; reload once when the job has finished (to show downloads).
(function () {
  "use strict";
  var job = document.getElementById("export-job");
  if (!job || job.dataset.finished === "true") return;
  var url = job.dataset.statusUrl;
  var bar = document.getElementById("export-progress");
  var percent = document.getElementById("export-percent");
  var status = document.getElementById("export-status");
  var stall = document.getElementById("export-stall");
  var delay = 1000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        bar.value = data.progress;
        bar.textContent = data.progress + " %";
        percent.textContent = data.progress + " %";
        status.textContent = data.status_display;
        stall.textContent = data.stall_notice;
        stall.hidden = !data.stall_notice;
        if (data.finished) {
          window.location.reload();
          return;
        }
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, delay);
})();
