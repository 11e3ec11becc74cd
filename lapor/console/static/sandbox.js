// The simulated phone: sends citizen messages, shows replies (tappable buttons).
(function () {
  "use strict";
  const { request, el } = window.Konsol;
  const phone = document.getElementById("phone");
  const chat = document.getElementById("chat");
  const numberInput = document.getElementById("sim-number");
  const errorBox = document.getElementById("sim-error");
  const POLL_MS = 1500;
  let lastSignature = "";

  const saved = localStorage.getItem("sim-number");
  if (saved) numberInput.value = saved;
  numberInput.addEventListener("change", () => {
    localStorage.setItem("sim-number", numberInput.value.trim());
    lastSignature = "";
    poll();
  });

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  async function send(payload, formData) {
    showError("");
    let options;
    if (formData) {
      formData.append("number", numberInput.value.trim());
      options = { method: "POST", body: formData };
    } else {
      options = {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ number: numberInput.value.trim() }, payload)),
      };
    }
    const result = await request(phone.dataset.send, options);
    if (!result.ok) showError((result.data && result.data.error) || "Gagal mengirim.");
    setTimeout(poll, 300);
    return result.ok;
  }

  function bubble(m) {
    const children = [];
    if (m.side === "in") children.push(el("div", { className: "who", text: m.author }));
    children.push(el("div", { className: "text", text: m.text }));
    if (m.buttons && m.buttons.length) {
      const box = el("div", { className: "choices" });
      if (m.list_label) box.appendChild(el("div", { className: "time", text: "☰ " + m.list_label }));
      m.buttons.forEach((b) => {
        const label = b.description ? b.title + " — " + b.description : b.title;
        const button = el("button", { type: "button", text: label });
        button.addEventListener("click", () => send({ type: b.kind, id: b.id, title: b.title }));
        box.appendChild(button);
      });
      children.push(box);
    }
    children.push(el("div", { className: "time", text: m.time }));
    return el("div", { className: "bubble" + (m.side === "out" ? " mine" : "") }, children);
  }

  let timer = null;
  async function poll() {
    clearTimeout(timer);
    try {
      const url = phone.dataset.poll + "?number=" + encodeURIComponent(numberInput.value.trim());
      const result = await request(url);
      if (result.ok && result.data) {
        if (result.data.error) showError(result.data.error);
        const signature = JSON.stringify(result.data.messages);
        if (signature !== lastSignature) {
          lastSignature = signature;
          chat.replaceChildren(...result.data.messages.map(bubble));
          chat.scrollTop = chat.scrollHeight;
        }
      }
    } catch (e) { /* try again */ }
    timer = setTimeout(poll, POLL_MS);
  }

  document.getElementById("sim-text").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("sim-message");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (!(await send({ type: "text", text: text }))) input.value = text;
  });
  document.getElementById("sim-photo").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("sim-photo-file").files[0];
    if (!file) { showError("Pilih foto terlebih dahulu."); return; }
    const data = new FormData();
    data.append("type", "image");
    data.append("photo", file);
    data.append("caption", document.getElementById("sim-photo-caption").value);
    await send(null, data);
  });
  document.getElementById("sim-location").addEventListener("submit", async (event) => {
    event.preventDefault();
    await send({
      type: "location",
      lat: document.getElementById("sim-lat").value,
      lon: document.getElementById("sim-lon").value,
    });
  });
  poll();
})();
