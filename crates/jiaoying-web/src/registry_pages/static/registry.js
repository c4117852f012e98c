// The registry's person page: the contacts form sends PATCH /api/v1/registry/persons/{id} by
// fetch() with the session's CSRF token (<meta name="csrf-token">) in X-CSRF-Token, as every board
// action does; on success the page reloads to show the stored values and the change history.
"use strict";

(function () {
  const data = (() => {
    const el = document.getElementById("board-data");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (_) { return {}; }
  })();
  const msg = data.msg || {};
  const words = data.reg || {};
  const form = document.getElementById("reg-contacts");
  if (!form || typeof data.person_id !== "string") return;

  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : null;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = document.getElementById("reg-contacts-error");
    const save = document.getElementById("reg-contacts-save");
    err.textContent = "";
    const email = form.elements.email.value.trim();
    const body = { mobile: form.elements.mobile.value.trim(), email: email === "" ? null : email };
    const headers = { "Content-Type": "application/json", "Accept": "application/json" };
    const token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    save.disabled = true;
    let r = null;
    let parsed = null;
    try {
      r = await fetch("/api/v1/registry/persons/" + encodeURIComponent(data.person_id), {
        method: "PATCH", headers, credentials: "same-origin", body: JSON.stringify(body),
      });
      try { parsed = await r.json(); } catch (_) { parsed = null; }
    } catch (_) {
      r = null;
    }
    save.disabled = false;
    if (r === null) {
      err.textContent = msg.network || "network error";
    } else if (r.ok && parsed && parsed.changed && parsed.changed.length === 0) {
      err.textContent = words.unchanged || "unchanged";
    } else if (r.ok) {
      window.location.href = window.location.pathname + "?saved=1";
    } else if (r.status === 401) {
      err.textContent = msg.signed_out || "signed out";
    } else {
      const m = parsed && parsed.error && parsed.error.message;
      err.textContent = (msg.failed || "failed") + (m ? ": " + m : " (" + r.status + ")");
    }
  });
})();
