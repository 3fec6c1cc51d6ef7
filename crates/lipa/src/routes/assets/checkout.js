// The checkout page's live status: server-sent events from /pay/{id}/events, falling back to polling
// /pay/{id}/status once a second. The server renders the status panel (from the same template as the
// page, escaped) in the page's language and this script swaps it in, so the page changes without a reload.
// On the receipt page: the print and share buttons.
(function () {
  "use strict";
  var print = document.querySelector("[data-print]");
  if (print) { print.addEventListener("click", function () { window.print(); }); }
  var share = document.querySelector("[data-share]");
  if (share && navigator.share) {
    share.hidden = false;
    share.addEventListener("click", function () {
      navigator.share({ title: document.title, url: location.href }).catch(function () { /* dismissed */ });
    });
  }

  var live = document.getElementById("live");
  if (!live) { return; }
  var id = live.getAttribute("data-payment");
  var state = live.getAttribute("data-state");
  var lang = "?lang=" + encodeURIComponent(document.documentElement.lang || "en");
  var finals = { succeeded: true, failed: true, needs_review: true, retried: true };
  var source = null;
  var timer = null;

  function stop() {
    if (source) { source.close(); source = null; }
    if (timer) { clearInterval(timer); timer = null; }
  }

  function apply(update) {
    if (!update || !update.state) { return; }
    if (update.state !== state) {
      state = update.state;
      live.setAttribute("data-state", state);
      live.className = "live state-" + state;
      live.innerHTML = update.html;
      var heading = live.querySelector("h2");
      if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
    }
    if (finals[state]) { stop(); }
  }

  function poll() {
    fetch("/pay/" + encodeURIComponent(id) + "/status" + lang, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { /* the next tick tries again */ });
  }

  function startPolling() {
    if (!timer) { timer = setInterval(poll, 1000); poll(); }
  }

  if (finals[state]) { return; }
  if (window.EventSource) {
    source = new EventSource("/pay/" + encodeURIComponent(id) + "/events" + lang);
    source.addEventListener("status", function (e) {
      try { apply(JSON.parse(e.data)); } catch (err) { /* ignore a broken frame */ }
    });
    source.onerror = function () {
      // A proxy that buffers or cuts event streams: poll instead.
      if (source) { source.close(); source = null; }
      if (!finals[state]) { startPolling(); }
    };
  } else {
    startPolling();
  }
})();
