// The live queue: polls the JSON endpoint every 2.5 s and redraws the lists.
(function () {
  "use strict";
  const { request, el } = window.Konsol;
  const api = document.getElementById("queue-script").dataset.api;
  const errorBox = document.getElementById("queue-error");
  const POLL_MS = 2500;

  async function take(item, button) {
    button.disabled = true;
    const result = await request(item.take_url, { method: "POST" });
    if (result.ok) {
      window.location.href = item.url;
      return;
    }
    button.disabled = false;
    errorBox.textContent = (result.data && result.data.message) || "Gagal mengambil alih.";
    errorBox.hidden = false;
    refresh();
  }

  function row(item, kind) {
    const subParts = [];
    if (kind === "waiting") subParts.push("Menunggu " + item.waiting + " (sejak " + item.queued_at + ")");
    if (kind === "mine") subParts.push("Anda tangani " + item.held);
    if (kind === "others") subParts.push("Oleh " + item.operator + " · " + item.held);
    subParts.push(item.reason);
    const buttons = [el("a", { href: item.url, className: "button-link", text: "Buka" })];
    if (kind === "waiting") {
      const b = el("button", { className: "primary take", type: "button", text: "Ambil alih" });
      b.addEventListener("click", () => take(item, b));
      buttons.push(b);
    }
    const title = el("div", { className: "title" }, [
      item.urgent ? el("span", { className: "badge urgent", text: "DARURAT" }) : null,
      document.createTextNode((item.urgent ? " " : "") + item.number),
    ]);
    return el("li", { className: "qitem" + (item.urgent ? " urgent" : ""), "data-key": item.key }, [
      el("div", { className: "main" }, [
        title,
        el("div", { className: "sub", text: subParts.join(" · ") }),
        item.last_text ? el("div", { className: "sub", text: "“" + item.last_text + "”" }) : null,
      ]),
      el("div", { className: "btns" }, buttons),
    ]);
  }

  function draw(listId, items, kind) {
    const list = document.getElementById(listId);
    list.replaceChildren();
    if (!items.length) {
      list.appendChild(el("li", { className: "empty", text: list.dataset.empty }));
    }
    items.forEach((item) => list.appendChild(row(item, kind)));
    document.getElementById("count-" + listId).textContent = String(items.length);
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const result = await request(api);
      if (result.ok && result.data) {
        draw("waiting", result.data.waiting, "waiting");
        draw("mine", result.data.mine, "mine");
        draw("others", result.data.others, "others");
        document.getElementById("updated").textContent = "terakhir " + result.data.now + " WIB";
        const waiting = result.data.waiting.length;
        document.title = (waiting ? "(" + waiting + ") " : "") + "Antrean · Lapor Kand4";
      }
    } catch (e) {
      document.getElementById("updated").textContent = "gagal memuat, mencoba lagi…";
    }
    timer = setTimeout(refresh, POLL_MS);
  }
  refresh();
})();
