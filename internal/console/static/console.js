// toolgate console: live updates (Server-Sent Events) and countdowns.
// Every view works without this script; it only keeps them fresh.
(function () {
  "use strict";
  // After sign-in: go on (a navigation that starts on this origin carries
  // the new SameSite=Strict session cookie).
  var cont = document.getElementById("continue");
  if (cont) { location.replace(cont.href); return; }
  var live = document.getElementById("live");
  function say(text) {
    if (!live) return;
    live.textContent = text;
    live.classList.add("show");
    setTimeout(function () { live.classList.remove("show"); }, 2500);
  }

  // Refresh a region from its fragment URL (same origin; the server
  // renders and escapes the HTML).
  function refresh(el) {
    var url = el.getAttribute("data-live");
    return fetch(url, { credentials: "same-origin", headers: { "X-Console": "1" } }).then(function (r) {
      if (r.status === 401) { location.href = "/console/signin?next=" + encodeURIComponent(location.pathname + location.search); return; }
      if (!r.ok) return;
      return r.text().then(function (html) {
        // Keep what a person is typing in a comment field.
        var active = document.activeElement, keep = {};
        el.querySelectorAll("textarea,input[type=checkbox]").forEach(function (f) { if (f.id) keep[f.id] = f.type === "checkbox" ? f.checked : f.value; });
        el.innerHTML = html;
        Object.keys(keep).forEach(function (id) {
          var f = document.getElementById(id);
          if (!f) return;
          if (f.type === "checkbox") f.checked = keep[id]; else f.value = keep[id];
        });
        if (active && active.id) { var a = document.getElementById(active.id); if (a) a.focus(); }
        tick();
        count();
      });
    });
  }

  function count() {
    var c = document.querySelector("[data-pending]"), badge = document.getElementById("pending-count");
    if (!c || !badge) return;
    var n = parseInt(c.getAttribute("data-pending"), 10) || 0;
    badge.textContent = n;
    badge.hidden = n === 0;
  }

  // Countdowns to expiry.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-expires]").forEach(function (t) {
      var s = Math.round((Date.parse(t.getAttribute("datetime")) - now) / 1000);
      if (isNaN(s)) return;
      if (!t.title) t.title = t.textContent;
      if (s <= 0) { t.textContent = "expired"; t.classList.add("error"); return; }
      var m = Math.floor(s / 60), h = Math.floor(m / 60);
      t.textContent = "in " + (h > 0 ? h + "h " + (m % 60) + "m" : m > 0 ? m + "m " + (s % 60) + "s" : s + "s");
    });
  }
  tick();
  count();
  setInterval(tick, 1000);

  var regions = document.querySelectorAll("[data-live][data-event]");
  if (!window.EventSource || !document.querySelector("main[data-csrf]")) return;
  // The stream is told what the page shows, and announces what changed
  // since it was rendered.
  var params = new URLSearchParams();
  var inbox = document.querySelector("[data-event=approvals][data-state]");
  if (inbox) params.set("inbox", inbox.getAttribute("data-state"));
  var rows = document.querySelector("[data-event=decisions][data-seq]");
  if (rows) params.set("seq", rows.getAttribute("data-seq"));
  var es = new EventSource("/console/events" + (params.toString() ? "?" + params : ""));
  es.addEventListener("approvals", function (e) {
    var badge = document.getElementById("pending-count");
    if (badge) { badge.textContent = e.data; badge.hidden = e.data === "0"; }
    regions.forEach(function (el) { if (el.getAttribute("data-event") === "approvals") refresh(el); });
    say("Approvals changed");
  });
  es.addEventListener("decisions", function () {
    regions.forEach(function (el) { if (el.getAttribute("data-event") === "decisions") refresh(el); });
  });
  es.addEventListener("signout", function () {
    es.close();
    location.href = "/console/signin";
  });
  document.body.setAttribute("data-live-ready", "1");
})();
