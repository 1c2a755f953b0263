"use strict";
// Keeps the status page live without a reload: every event on /v1/events
// (and a timer, for the guard's counters, which change without events)
// refetches this page and swaps its <main> in. The page is rendered by
// the server only; this script never builds markup itself.
(function () {
  var live = document.getElementById("live");
  var busy = false, again = false;

  function show(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("state");
        var cur = document.getElementById("state");
        if (next && cur) { cur.replaceWith(document.adoptNode(next)); }
        if (live.dataset.state === "stale") { show("live", "live"); }
      })
      .catch(function (e) { show("stale", "not updated: " + e.message); })
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (!window.EventSource || !window.fetch) { return; }
  // The event types of /v1/events; an unknown one still arrives with the
  // next timer tick.
  var types = ["flip", "rollback", "guard", "failover", "guard_blocked", "health", "reload", "startup", "state_persist", "message"];
  var es = new EventSource("/v1/events");
  types.forEach(function (t) { es.addEventListener(t, refresh); });
  es.onopen = function () { show("live", "live"); refresh(); };
  es.onerror = function () { show("down", "reconnecting…"); };
  setInterval(refresh, 5000);
})();
