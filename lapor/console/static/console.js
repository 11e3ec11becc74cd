// Shared helpers of the console: CSRF-protected fetch and small DOM helpers.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";

  async function request(url, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-Requested-With": "fetch" }, opts.headers || {});
    if (opts.method && opts.method.toUpperCase() !== "GET") {
      opts.headers["X-CSRFToken"] = csrf;
    }
    const response = await fetch(url, opts);
    if (response.status === 401) {
      window.location.href = "/masuk?next=" + encodeURIComponent(window.location.pathname);
      throw new Error("Sesi berakhir");
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => { if (child) node.appendChild(child); });
    return node;
  }

  window.Konsol = { request: request, el: el, csrf: csrf };
})();
