// Purepool live updates. No build step and no dependency: the pages are
// complete without this script. It listens to the network's event stream
// (/{network}/api/events: a "block" for each new pool block, a "payout"
// for each payout change) and then fetches the same page again and swaps
// the parts marked data-live (blocks, payouts, balances, overview cards),
// so what the server renders is the one truth and nothing is formatted
// twice. New table rows flash briefly.
(function () {
  "use strict";
  var body = document.body;
  var net = body && body.getAttribute("data-network");
  if (!net || !window.EventSource || !window.fetch || !window.DOMParser || !document.querySelector("[data-live]")) {
    return;
  }
  // Only the first page of a list has the newest rows.
  var page = new URLSearchParams(location.search).get("page");
  if (page && page !== "1") {
    return;
  }
  var badge = document.getElementById("live");
  var busy = false, again = false, timer = 0;

  function keys(el) {
    var out = {};
    el.querySelectorAll("tr[data-key]").forEach(function (tr) { out[tr.getAttribute("data-key")] = true; });
    return out;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var seen = {};
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var name = el.getAttribute("data-live");
      var i = seen[name] = (seen[name] || 0) + 1;
      var fresh = doc.querySelectorAll('[data-live="' + name + '"]')[i - 1];
      if (!fresh) {
        return;
      }
      var old = keys(el);
      var node = document.importNode(fresh, true);
      node.querySelectorAll("tr[data-key]").forEach(function (tr) {
        if (!old[tr.getAttribute("data-key")]) {
          tr.classList.add("fresh");
        }
      });
      el.replaceWith(node);
    });
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(location.href, { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  var es = new EventSource("/" + encodeURIComponent(net) + "/api/events");
  es.addEventListener("block", schedule);
  es.addEventListener("payout", schedule);
  es.onopen = function () {
    if (badge) {
      badge.hidden = false;
      badge.classList.remove("off");
      badge.textContent = "live";
    }
  };
  es.onerror = function () {
    if (badge) {
      badge.classList.add("off");
      badge.textContent = "reconnecting";
    }
  };
})();
