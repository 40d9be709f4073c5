/* takeover console: live fragments over server-sent events, and keys for the approvals queue.
   No inline script (CSP): this file is all the console's own code. */
(function () {
  "use strict";

  /* ---------- live: /ui/live pings topics; fragments [data-live~=topic] are fetched again ---------- */
  var inflight = {}, again = {}, waiting = {}, source = null, paused = localStorage.getItem("takeover.live") === "paused", missed = {}, timers = {};

  function show(text, kind) {
    var state = document.getElementById("live-state");
    if (state) { state.textContent = text; state.dataset.kind = kind; }
    var toggle = document.getElementById("live-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.textContent = paused ? "Resume live" : "Pause live";
    }
  }

  function busy(el) {
    /* a form being typed into is never replaced: focus inside, a field changed, or an edit open */
    var active = document.activeElement;
    if (active && el.contains(active) && active.matches("input, textarea, select")) { return true; }
    if (el.querySelector("details.edit[open]")) { return true; }
    return Array.prototype.some.call(el.querySelectorAll("input:not([type=hidden]), textarea"), function (f) {
      return f.value !== f.defaultValue;
    });
  }

  function refresh(el) {
    if (!el || !el.id || typeof htmx === "undefined") { return; }
    if (paused) { waiting[el.id] = true; return; }  /* fetched on resume */
    if (busy(el)) { el.dataset.held = "true"; return; }
    delete el.dataset.held;
    if (timers[el.id]) { return; }  /* one fetch per fragment for a burst of pings */
    if (inflight[el.id]) { again[el.id] = true; return; }  /* once this one is in, fetch again */
    var id = el.id;
    timers[id] = setTimeout(function () {
      delete timers[id];
      var now = document.getElementById(id);
      if (!now) { return; }
      if (paused) { waiting[id] = true; return; }
      if (busy(now)) { now.dataset.held = "true"; return; }
      inflight[id] = true;
      var finish = function () {
        delete inflight[id];
        if (again[id]) { delete again[id]; refresh(document.getElementById(id)); }
      };
      var done = htmx.ajax("GET", location.pathname + location.search, {target: "#" + id, select: "#" + id, swap: "outerHTML"});
      if (done && done.then) { done.then(finish, finish); } else { finish(); }  /* a failed fetch: the reconnect refreshes */
    }, 150);
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    /* typing may have started while the fragment was on its way: keep what is typed */
    var target = e.detail.target;
    if (!target || !inflight[target.id]) { return; }
    if (paused) { e.detail.shouldSwap = false; waiting[target.id] = true; return; }  /* sent before the pause */
    if (busy(target)) { e.detail.shouldSwap = false; target.dataset.held = "true"; }
  });

  /* a folded list the reader opened (details.keep) stays open when its fragment is fetched again */
  var opened = [];
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    opened = target ? Array.prototype.map.call(target.querySelectorAll("details.keep[open][id]"), function (d) { return d.id; }) : [];
  });
  document.addEventListener("htmx:afterSwap", function () {
    opened.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
    opened = [];
  });

  function refreshTopics(topics) {
    topics.forEach(function (topic) {
      document.querySelectorAll("[data-live~='" + topic + "']").forEach(refresh);
    });
  }

  function refreshAll() { document.querySelectorAll("[data-live]").forEach(refresh); }

  function connect() {
    if (source || !document.getElementById("live-state")) { return; }
    source = new EventSource("/ui/live");
    show("connecting…", "wait");
    var wasDown = false;
    source.addEventListener("hello", function () {
      show(paused ? "paused" : "live", paused ? "paused" : "on");
      if (wasDown && !paused) { refreshAll(); }  /* what changed while the server was away */
      wasDown = false;
    });
    source.addEventListener("change", function (e) {
      var topics = String(e.data).split(" ");
      if (paused) { topics.forEach(function (t) { missed[t] = true; }); show("paused · updates waiting", "paused"); return; }
      refreshTopics(topics);
    });
    source.addEventListener("ended", function () { source.close(); source = null; show("session ended: sign in again", "off"); });
    source.onerror = function () {
      wasDown = true;
      show("reconnecting…", "wait");
      if (source.readyState === EventSource.CLOSED) {  /* refused outright: try again in a while */
        source = null;
        setTimeout(connect, 3000);
      }
    };
  }

  document.addEventListener("click", function (e) {
    var toggle = e.target.closest && e.target.closest("#live-toggle");
    if (!toggle) { return; }
    paused = !paused;
    localStorage.setItem("takeover.live", paused ? "paused" : "on");
    if (!paused) {
      refreshTopics(Object.keys(missed));
      Object.keys(waiting).forEach(function (id) { refresh(document.getElementById(id)); });
      missed = {}; waiting = {};
    }
    show(paused ? "paused" : (source && source.readyState === EventSource.OPEN ? "live" : "connecting…"),
         paused ? "paused" : "on");
  });

  document.addEventListener("focusout", function () {
    setTimeout(function () { document.querySelectorAll("[data-held]").forEach(refresh); }, 0);
  });

  /* ---------- keys on the approvals queue: j/k move, a approves, r rejects ---------- */
  function cards() { return Array.prototype.slice.call(document.querySelectorAll("[data-keys] article[data-approval]")); }
  function current() { var a = document.activeElement; return a && a.closest ? a.closest("article[data-approval]") : null; }

  function focusCard(card) { if (card) { card.focus(); card.scrollIntoView({block: "nearest"}); } }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var list = cards();
    if (!list.length) { return; }
    var here = current();
    if (e.key === "Escape" && here) { focusCard(here); e.preventDefault(); return; }
    if (e.target.matches && e.target.matches("input, textarea, select")) { return; }
    var i = here ? list.indexOf(here) : -1;
    if (e.key === "j" || e.key === "k") {
      focusCard(list[Math.min(Math.max(i + (e.key === "j" ? 1 : -1), 0), list.length - 1)]);
      e.preventDefault();
    } else if (e.key === "a" && here) {
      var approve = here.querySelector("form.approve button[type=submit]");
      if (approve && !approve.disabled) { sessionStorage.setItem("takeover.card", String(i)); approve.click(); e.preventDefault(); }
    } else if (e.key === "r" && here) {
      var comment = here.querySelector("form.reject input[name=comment]");
      if (comment && !comment.disabled) { sessionStorage.setItem("takeover.card", String(i)); comment.focus(); e.preventDefault(); }
    }
  });

  function settle() {
    connect();
    show(paused ? "paused" : (source && source.readyState === EventSource.OPEN ? "live" : "connecting…"),
         paused ? "paused" : "on");
    var kept = sessionStorage.getItem("takeover.card");
    if (kept !== null && !document.querySelector("[data-keys] form.reject input[name=comment]:focus")) {
      var list = cards();
      sessionStorage.removeItem("takeover.card");
      if (list.length) { focusCard(list[Math.min(Number(kept), list.length - 1)]); }
    }
  }

  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", function (e) { if (e.target === document.body) { settle(); } });
})();
