// The admins' users page: add a user, change a role or a password, delete a user. As everywhere
// on the board, each change is a fetch() carrying the session's CSRF token (<meta name="csrf-token">)
// in X-CSRF-Token; the page reloads to show the result.
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

  // Resolves to {ok, status, body}; never throws for HTTP errors.
  async function send(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    try {
      const r = await fetch(url, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
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
    const m = res.body && res.body.error && res.body.error.message;
    return (msg.failed || "failed") + (m ? ": " + m : " (" + res.status + ")");
  }

  const add = document.getElementById("user-add");
  if (add) {
    add.addEventListener("submit", async (e) => {
      e.preventDefault();
      const err = document.getElementById("user-add-error");
      const fd = new FormData(add);
      const body = {
        name: String(fd.get("name") || "").trim(),
        role: String(fd.get("role") || ""),
        password: String(fd.get("password") || ""),
      };
      if (!body.name || !body.password) { err.textContent = msg.user_missing || "missing fields"; return; }
      const button = add.querySelector("button[type=submit]");
      button.disabled = true;
      const res = await send("POST", "/api/v1/users", body);
      button.disabled = false;
      if (res.ok) window.location.reload();
      else err.textContent = errorText(res);
    });
  }

  const table = document.getElementById("users");
  if (table) {
    table.addEventListener("click", async (e) => {
      const b = e.target.closest("button[data-user-act]");
      if (!b) return;
      const row = b.closest("tr[data-user]");
      const name = row.dataset.user;
      const err = row.querySelector(".error-text");
      const url = "/api/v1/users/" + encodeURIComponent(name);
      err.textContent = "";
      let res;
      if (b.dataset.userAct === "save") {
        const role = row.querySelector("select[name=role]").value;
        const password = row.querySelector("input[name=password]").value;
        const body = {};
        if (role !== row.dataset.role) body.role = role;
        if (password) body.password = password;
        if (!body.role && !body.password) { err.textContent = msg.user_nothing || "nothing to change"; return; }
        b.disabled = true;
        res = await send("PATCH", url, body);
      } else {
        if (!window.confirm((msg.confirm_delete_user || "Delete") + " " + name + "?")) return;
        b.disabled = true;
        res = await send("DELETE", url);
      }
      b.disabled = false;
      if (res.ok) window.location.reload();
      else err.textContent = errorText(res);
    });
  }
})();
