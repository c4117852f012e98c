// The duty officers' board: a little JavaScript over server-rendered pages, no build step.
// - every state-changing request is a fetch() POST carrying the session's CSRF token
//   (<meta name="csrf-token">) in the X-CSRF-Token header;
// - the alert page listens to /api/v1/events and re-fetches its live fragment on any event of
//   its alert (and every 30 s, since "overdue" moves with the clock, not with events);
// - the alert page's filters are its query; changing one re-fetches the live part.
"use strict";

(function () {
  const data = (() => {
    const el = document.getElementById("board-data");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (_) { return {}; }
  })();
  const msg = data.msg || {};

  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : null;
  }

  // POSTs JSON; resolves to {ok, status, body} and never throws for HTTP errors.
  async function post(url, body) {
    const headers = { "Content-Type": "application/json", "Accept": "application/json" };
    const token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    try {
      const r = await fetch(url, {
        method: "POST", headers, credentials: "same-origin",
        body: body === undefined ? "{}" : JSON.stringify(body),
      });
      let parsed = null;
      try { parsed = await r.json(); } catch (_) { parsed = null; }
      return { ok: r.ok, status: r.status, body: parsed };
    } catch (_) {
      return { ok: false, status: 0, body: null };
    }
  }

  function errorText(res) {
    if (res.status === 0) return msg.network || "network error";
    if (res.status === 401) return msg.signed_out || "signed out";
    if (res.status === 403) return msg.forbidden || "forbidden";
    const m = res.body && res.body.error && res.body.error.message;
    return (msg.failed || "failed") + (m ? ": " + m : " (" + res.status + ")");
  }

  let toastTimer = null;
  function toast(text, bad) {
    const t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.classList.toggle("bad", !!bad);
    t.classList.remove("hidden");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.add("hidden"), bad ? 8000 : 3500);
  }

  // --- top bar -----------------------------------------------------------------------------
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      logout.disabled = true;
      await post("/logout");
      window.location.href = "/login";
    });
  }

  // --- live pages ----------------------------------------------------------------------------
  // One EventSource per page. On an event that concerns the page, re-fetch the server-rendered
  // part that changes (debounced) and swap it in; after a lost connection, resync the same way.
  // A small indicator shows while the connection is down; EventSource reconnects by itself, and
  // when the server refused it outright (CLOSED) we open a new one after a pause.
  function live(opts) {
    const status = document.getElementById("live-status");
    let timer = null;
    let inFlight = false;
    let again = false;
    let broken = false;
    let source = null;

    async function refresh() {
      if (inFlight) { again = true; return; }
      inFlight = true;
      try {
        const r = await fetch(opts.url(), { credentials: "same-origin", headers: { "Accept": "text/html" } });
        if (r.redirected) {
          // The session ended: the server sent us to the sign-in page. Go there, not into #live.
          window.location.href = r.url;
        } else if (r.ok) {
          opts.swap(await r.text());
          document.body.dataset.synced = String(Date.now());
        } else if (r.status === 401) {
          window.location.href = "/login";
        }
      } catch (_) {
        // The connection indicator says what is wrong; the next event or tick retries.
      } finally {
        inFlight = false;
        if (again) { again = false; schedule(); }
      }
    }

    function schedule() {
      if (timer) return;
      timer = setTimeout(() => { timer = null; refresh(); }, 250);
    }

    function connect() {
      source = new EventSource("/api/v1/events");
      source.addEventListener("call", (e) => {
        try {
          if (opts.concerns(JSON.parse(e.data))) schedule();
        } catch (_) { /* malformed: ignore */ }
      });
      source.addEventListener("open", () => {
        if (status) status.classList.add("hidden");
        document.body.dataset.live = "open";
        if (broken) { broken = false; schedule(); }
      });
      source.addEventListener("error", () => {
        broken = true;
        if (status) status.classList.remove("hidden");
        document.body.dataset.live = "reconnecting";
        if (source.readyState === EventSource.CLOSED) {
          source.close();
          setTimeout(connect, 3000);
        }
      });
    }

    connect();
    // "Overdue" moves with the clock, not with events.
    setInterval(schedule, 30000);
    return refresh;
  }

  // The alert page's filters run on the server: the query of the page is the filter.
  function filterQuery(form) {
    const p = new URLSearchParams();
    new FormData(form).forEach((v, k) => { if (String(v).trim()) p.set(k, String(v).trim()); });
    const lang = new URLSearchParams(window.location.search).get("lang");
    if (lang) p.set("lang", lang);
    return p.toString();
  }

  function alertPage(alertId) {
    const liveEl = document.getElementById("live");
    const refresh = live({
      url: () => "/alerts/" + alertId + "/live" + window.location.search,
      concerns: (d) => Number(d.alert_id) === alertId,
      swap: (html) => {
        const before = {};
        liveEl.querySelectorAll(".cell[data-call-id]").forEach((c) => { before[c.dataset.callId] = c.dataset.show; });
        liveEl.innerHTML = html;
        liveEl.querySelectorAll(".cell[data-call-id]").forEach((c) => {
          const old = before[c.dataset.callId];
          if (old !== undefined && old !== c.dataset.show) c.classList.add("flash");
        });
      },
    });
    const form = document.getElementById("filters");
    if (form) {
      const apply = (e) => {
        if (e) e.preventDefault();
        const q = filterQuery(form);
        window.history.replaceState(null, "", "/alerts/" + alertId + (q ? "?" + q : ""));
        refresh();
      };
      form.addEventListener("submit", apply);
      form.querySelectorAll("select").forEach((s) => s.addEventListener("change", apply));
    }
    return refresh;
  }

  function nowPage() {
    const el = document.getElementById("now");
    if (!el) return;
    live({
      url: () => window.location.pathname + window.location.search,
      concerns: () => true,
      swap: (html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("now");
        if (fresh) el.replaceChildren(...fresh.childNodes);
      },
    });
  }

  // --- alert page: actions -------------------------------------------------------------------
  function setupActions(alertId, refresh) {
    const answerDialog = document.getElementById("answer-dialog");
    const cancelDialog = document.getElementById("cancel-dialog");
    let answerCall = null;

    document.addEventListener("click", async (e) => {
      const b = e.target.closest("button[data-act]");
      if (!b) return;
      const act = b.dataset.act;
      const callId = b.dataset.callId;
      const who = b.dataset.name || "";
      if (act === "answer" && answerDialog) {
        answerCall = callId;
        answerDialog.querySelector(".dialog-who").textContent = who;
        answerDialog.querySelector("textarea").value = "";
        answerDialog.querySelector(".error-text").textContent = "";
        answerDialog.showModal();
      } else if (act === "recall" || act === "escalate") {
        const q = act === "recall" ? msg.confirm_recall : msg.confirm_escalate;
        if (!window.confirm((q || act) + " " + who + "?")) return;
        b.disabled = true;
        const res = await post("/api/v1/calls/" + callId + "/" + act, {});
        b.disabled = false;
        if (res.ok) { toast(act === "recall" ? msg.recalled : msg.escalated); refresh(); }
        else toast(errorText(res), true);
      } else if (act === "cancel-alert" && cancelDialog) {
        cancelDialog.querySelector("textarea").value = "";
        cancelDialog.querySelector(".error-text").textContent = "";
        cancelDialog.showModal();
      }
    });

    if (answerDialog) {
      answerDialog.querySelector("form").addEventListener("submit", async (e) => {
        e.preventDefault();
        if (e.submitter && e.submitter.value === "close") { answerDialog.close(); return; }
        const note = answerDialog.querySelector("textarea").value.trim();
        const err = answerDialog.querySelector(".error-text");
        if (!note) { err.textContent = msg.note_required || "note required"; return; }
        const res = await post("/api/v1/calls/" + answerCall + "/answer", { note });
        if (res.ok) { answerDialog.close(); toast(msg.answered); refresh(); }
        else err.textContent = errorText(res);
      });
    }
    if (cancelDialog) {
      cancelDialog.querySelector("form").addEventListener("submit", async (e) => {
        e.preventDefault();
        if (e.submitter && e.submitter.value === "close") { cancelDialog.close(); return; }
        const reason = cancelDialog.querySelector("textarea").value.trim();
        const err = cancelDialog.querySelector(".error-text");
        if (!reason) { err.textContent = msg.reason_required || "reason required"; return; }
        const res = await post("/api/v1/alerts/" + alertId + "/cancel", { reason });
        if (res.ok) { cancelDialog.close(); window.location.reload(); }
        else err.textContent = errorText(res);
      });
    }
  }

  // --- compose page --------------------------------------------------------------------------
  function setupCompose(form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const err = document.getElementById("compose-error");
      err.textContent = "";
      const fd = new FormData(form);
      const areas = fd.getAll("areas").map(String).filter((a) => a);
      const body = {
        event: String(fd.get("event") || "").trim(),
        tier: String(fd.get("tier") || ""),
        areas,
        headline: String(fd.get("headline") || "").trim(),
        text: String(fd.get("text") || "").trim(),
      };
      if (!body.headline) delete body.headline;
      if (!body.event || !body.text || areas.length === 0) {
        err.textContent = msg.compose_missing || "missing fields";
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      const res = await post("/api/v1/alerts/manual", body);
      button.disabled = false;
      if (res.ok && res.body && res.body.id !== undefined) {
        window.location.href = "/alerts/" + encodeURIComponent(res.body.id);
      } else {
        err.textContent = errorText(res);
      }
    });
  }

  // --- start ---------------------------------------------------------------------------------
  if (data.page === "alert" && typeof data.alert_id === "number") {
    const refresh = alertPage(data.alert_id);
    setupActions(data.alert_id, refresh);
  }
  if (data.page === "now") nowPage();
  const compose = document.getElementById("compose-form");
  if (compose) setupCompose(compose);
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
})();
