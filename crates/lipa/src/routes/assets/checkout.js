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
  // "Wrong number?": the right number, typed while the first prompt is still out. It is sent (as "Try
  // again") only once that payment has failed, so two prompts are never out at once.
  var nextPhone = null;

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || form.id !== "next-number") { return; }
    var input = form.querySelector("input[name=phone]");
    if (!input.value.trim()) { ev.preventDefault(); input.focus(); return; }
    if (state === "sending" || state === "waiting") {
      ev.preventDefault();
      nextPhone = input.value.trim();
      var note = form.querySelector("#next-phone-status");
      note.textContent = (form.getAttribute("data-queued") || "").replace("{phone}", nextPhone);
      note.hidden = false;
    }
  });

  function sendToNextPhone() {
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/pay/" + encodeURIComponent(id) + "/retry";
    var input = document.createElement("input");
    input.type = "hidden"; input.name = "phone"; input.value = nextPhone;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (timer) { clearInterval(timer); timer = null; }
  }

  function apply(update) {
    if (!update || !update.state) { return; }
    if (update.state === "failed" && nextPhone) { stop(); sendToNextPhone(); return; }
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
