// Keeps the queue page current: polls /api/version and, when the queue changed, swaps in the
// server-rendered (escaped) fragment. No build step, no framework; served from 'self' under the CSP.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue) { return; }
  var version = queue.getAttribute("data-version");
  function refresh() {
    fetch("/api/version", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || String(body.version) === version) { return null; }
        version = String(body.version);
        return fetch("/fragment/queue" + window.location.search, {credentials: "same-origin", cache: "no-store"})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) { queue.innerHTML = html; queue.setAttribute("data-version", version); } });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  setInterval(refresh, 2000);
}());
