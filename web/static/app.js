// lifeboat dashboard: the few live parts. Plain JavaScript, no build step, no inline code
// (the Content-Security-Policy forbids it).
"use strict";

(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function formatBytes(n) {
    var units = ["KiB", "MiB", "GiB", "TiB"];
    if (n < 1024) return n + " B";
    var value = n / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return value.toFixed(1) + " " + units[unit];
  }

  // As the server writes rates (lifeboat_tftp::human_rate): decimal, like network tools.
  function formatRate(bytesPerSecond) {
    if (bytesPerSecond >= 1e6) return (bytesPerSecond / 1e6).toFixed(1) + " MB/s";
    return (bytesPerSecond / 1e3).toFixed(1) + " kB/s";
  }

  function formatSeconds(s) {
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  var outcomeClasses = { complete: "ok", failed: "bad", refused: "bad", not_found: "warn", options_declined: "muted" };

  // Confirmation before destructive forms.
  // The idle countdown of a service card: a second less each second; at zero the page reloads
  // to show the service stopped (or, if somebody used it, its new countdown).
  document.querySelectorAll("[data-countdown]").forEach(function (element) {
    var left = parseInt(element.getAttribute("data-countdown"), 10);
    if (isNaN(left)) return;
    var timer = window.setInterval(function () {
      left -= 1;
      if (left < 0) {
        window.clearInterval(timer);
        window.setTimeout(function () { window.location.reload(); }, 6000);
        return;
      }
      element.textContent = Math.floor(left / 60) + "m " + ("0" + (left % 60)).slice(-2) + "s";
    }, 1000);
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // Live transfers over Server-Sent Events.
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var body = document.getElementById("live-body");
    var empty = document.getElementById("live-empty");
    var state = document.getElementById("live-state");
    var source = new EventSource(live.getAttribute("data-stream"));
    source.addEventListener("transfers", function (message) {
      var transfers = JSON.parse(message.data);
      body.textContent = "";
      transfers.forEach(function (t) {
        var row = document.createElement("tr");
        cell(row, t.client, "nowrap");
        cell(row, t.mac || "", "mono");
        cell(row, t.requested, "name");
        cell(row, t.file || "", "name");
        cell(row, `${t.protocol} ${t.direction}`);
        var progressCell = cell(row, "", "progress-col");
        var done = t.outcome === "complete";
        if (t.size) {
          var percent = done ? 100 : Math.min(100, Math.floor((t.bytes * 100) / t.size));
          var bar = document.createElement("progress");
          bar.max = 100;
          bar.value = percent;
          progressCell.appendChild(bar);
          progressCell.appendChild(document.createTextNode(" " + percent + " % "));
        }
        var amount = document.createElement("div");
        amount.className = "muted small";
        amount.textContent = formatBytes(t.bytes) + (t.size ? " of " + formatBytes(t.size) : "");
        progressCell.appendChild(amount);
        if (t.outcome) {
          var badge = document.createElement("span");
          badge.className = "badge " + (outcomeClasses[t.outcome] || "muted");
          badge.textContent = t.outcome.replace("_", " ");
          progressCell.appendChild(document.createTextNode(" "));
          progressCell.appendChild(badge);
        }
        cell(row, t.outcome ? "" : formatRate(t.rate), "nowrap");
        var eta = "";
        if (!t.outcome && t.size && t.rate > 0 && t.size > t.bytes) eta = formatSeconds((t.size - t.bytes) / t.rate);
        cell(row, eta, "nowrap");
        body.appendChild(row);
      });
      empty.hidden = transfers.length > 0;
      state.textContent = "live";
      state.className = "live-state on";
    });
    source.addEventListener("error", function () {
      state.textContent = "disconnected, retrying…";
      state.className = "live-state off";
    });
  }

  // Image upload with a progress bar.
  var uploadForm = document.getElementById("upload-form");
  if (uploadForm) {
    var fileInput = document.getElementById("upload-file");
    var nameInput = document.getElementById("upload-name");
    var progress = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var max = Number(document.getElementById("upload").getAttribute("data-max"));
    // The last upload's confirmation, kept across the reload that shows the new table.
    var done = window.sessionStorage.getItem("lifeboat-uploaded");
    if (done) {
      window.sessionStorage.removeItem("lifeboat-uploaded");
      status.textContent = done;
      status.className = "ok";
    }
    var existing = Array.from(document.querySelectorAll("#image-table tbody td.name")).map(function (td) {
      return td.firstChild ? td.firstChild.textContent.trim() : "";
    });
    uploadForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = fileInput.files[0];
      if (!file) return;
      var name = (nameInput.value || file.name).trim();
      if (existing.indexOf(name) >= 0 && !window.confirm(name + " exists already: replace it with " + file.name + "?")) return;
      status.className = "";
      if (file.size > max) {
        status.textContent = file.name + " is larger than the upload limit of " + formatBytes(max) + ".";
        status.className = "field-error";
        return;
      }
      var path = name.split("/").map(encodeURIComponent).join("/");
      var request = new XMLHttpRequest();
      request.open("PUT", "/api/v1/images/" + path);
      request.setRequestHeader("X-CSRF-Token", csrf);
      request.setRequestHeader("Content-Type", "application/octet-stream");
      progress.hidden = false;
      progress.value = 0;
      var started = Date.now();
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        progress.value = Math.floor((e.loaded * 100) / e.total);
        var seconds = (Date.now() - started) / 1000;
        var rate = seconds > 0 ? e.loaded / seconds : 0;
        status.textContent = "Uploading " + name + ": " + formatBytes(e.loaded) + " of " + formatBytes(e.total) +
          (rate > 0 ? " at " + formatRate(rate) : "");
      });
      request.addEventListener("load", function () {
        if (request.status >= 200 && request.status < 300) {
          progress.value = 100;
          var replaced = request.status === 200;
          var text = (replaced ? "Replaced " : "Uploaded ") + name + " (" + formatBytes(file.size) + ").";
          status.textContent = text;
          window.sessionStorage.setItem("lifeboat-uploaded", text);
          window.location.reload();
          return;
        }
        var message = "Upload failed (HTTP " + request.status + ")";
        try { message = JSON.parse(request.responseText).error || message; } catch (ignored) { /* not JSON */ }
        status.textContent = message;
        status.className = "field-error";
        progress.hidden = true;
      });
      request.addEventListener("error", function () {
        status.textContent = "The upload broke off: is lifeboat still running?";
        status.className = "field-error";
        progress.hidden = true;
      });
      request.send(file);
    });
  }

  // Digests still being computed: look again in a few seconds.
  var imageTable = document.getElementById("image-table");
  if (imageTable && imageTable.getAttribute("data-pending") === "true") {
    window.setTimeout(function () { window.location.reload(); }, 3000);
  }

  // A recovery under way: look again every second and a half, until it ends.
  var recovery = document.getElementById("recovery");
  if (recovery && recovery.getAttribute("data-active") === "true") {
    window.setTimeout(function () { window.location.reload(); }, 1500);
  }
})();
