// DMVault review UI: a little progressive enhancement; every page works without it.
(function () {
  "use strict";

  // 1. Tell the server the browser's time zone (times are rendered server-side in it).
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // Set on the sign-in page already, so the first page with times uses it (no reload: a
    // reload would be one more audited page view).
    if (tz && document.cookie.indexOf("dmv_tz=" + encodeURIComponent(tz)) === -1) {
      document.cookie = "dmv_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=strict";
    }
  } catch (e) { /* keep UTC */ }

  // 2. Search filters: each control appends its operator to the query box, then resets.
  var q = document.getElementById("q");
  if (q) {
    document.querySelectorAll("[data-op]").forEach(function (el) {
      el.addEventListener("change", function () {
        var value = (el.value || "").trim();
        if (!value) { return; }
        if (/[\s,]/.test(value)) { value = '"' + value.replace(/"/g, "") + '"'; }
        var op = el.getAttribute("data-op") + ":" + value;
        q.value = (q.value.trim() + " " + op).trim();
        el.value = "";
        q.focus();
      });
    });
  }

  // 3. Progress of imports and exports: poll the small JSON endpoint, reload when done.
  function poll(box, bar) {
    var url = box.getAttribute("data-status-url");
    var state = box.getAttribute("data-state");
    if (!url || state === "done" || state === "failed" || state === "cancelled") { return; }
    var status = document.getElementById("status-text");
    var note = document.getElementById("processed");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (status) { status.textContent = d.status; }
          if (d.progress > 0 && bar) { bar.value = Math.round(d.progress * 100); }
          if (note) { note.textContent = d.done ? "Finished." : (d.processed !== undefined ? d.processed + " messages processed…" : Math.round(d.progress * 100) + "%"); }
          if (d.done) { window.location.reload(); } else { window.setTimeout(tick, 1500); }
        })
        .catch(function () { window.setTimeout(tick, 5000); });
    }
    window.setTimeout(tick, 800);
  }
  var imp = document.getElementById("import-status");
  if (imp) { poll(imp, document.getElementById("import-progress")); }
  var exp = document.getElementById("export-status");
  if (exp) { poll(exp, document.getElementById("export-progress")); }

  // 4. Conversation opened at a message: move focus there for keyboard and screen-reader users.
  var at = document.querySelector(".msg.at");
  if (at) { at.scrollIntoView({ block: "center" }); at.focus({ preventScroll: true }); }
})();
