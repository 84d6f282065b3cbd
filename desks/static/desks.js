// The desks' script: live refresh of lists when a ticket changes (server-
// sent events), a notice on a ticket page when that ticket changes, and the
// phone reveal in place. Every form also works without it.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf"]');
  var csrf = meta ? meta.content : "";

  // Reveal the reporter's phone without leaving the page (audited).
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("form.reveal") || !window.fetch) return;
    ev.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
      .then(function (res) {
        if (!res.ok) throw new Error(res.body.error ? res.body.error.message : "failed");
        document.getElementById("phone").textContent = res.body.phone;
        form.remove();
      })
      .catch(function (e) { button.disabled = false; button.title = String(e.message || e); });
  });

  var source = document.body.dataset.events;
  if (!source || !window.EventSource) return;
  var ticket = document.querySelector("[data-ticket]");
  var pending = null;

  function numbers() {
    var seen = {};
    document.querySelectorAll("[data-live] tr[data-number]").forEach(function (tr) { seen[tr.dataset.number] = true; });
    return seen;
  }

  // Fetch this page again and swap each live region for its new self;
  // rows that were not there before are marked for a moment.
  function refresh() {
    pending = null;
    var before = numbers();
    fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) el.replaceWith(document.importNode(fresh, true));
        });
        document.querySelectorAll("[data-live] tr[data-number]").forEach(function (tr) {
          if (!before[tr.dataset.number]) tr.classList.add("fresh");
        });
        document.body.dataset.refreshed = String(Date.now());
      })
      .catch(function () {});
  }

  var events = new EventSource(source);
  events.addEventListener("ticket", function (ev) {
    var change;
    try { change = JSON.parse(ev.data); } catch (e) { return; }
    if (ticket) {
      if (change.number === ticket.dataset.ticket) document.getElementById("changed").hidden = false;
      return;
    }
    if (!pending && document.querySelector("[data-live][id]")) pending = setTimeout(refresh, 250);
  });
  events.addEventListener("open", function () { document.body.dataset.live = "open"; });
})();
