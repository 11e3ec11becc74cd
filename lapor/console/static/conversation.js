// A conversation page: live transcript, canned replies, desa list, drafts.
(function () {
  "use strict";
  const { request, el } = window.Konsol;
  const head = document.getElementById("conv-head");
  const transcript = document.getElementById("transcript");
  const POLL_MS = 2500;
  let version = head.dataset.version;
  const draftKey = "draft:" + head.dataset.key;

  function scrollDown() { transcript.scrollTop = transcript.scrollHeight; }
  scrollDown();

  const replyText = document.getElementById("reply-text");
  if (replyText) {
    replyText.value = sessionStorage.getItem(draftKey) || "";
    replyText.addEventListener("input", () => sessionStorage.setItem(draftKey, replyText.value));
    document.getElementById("reply-form").addEventListener("submit", (event) => {
      sessionStorage.removeItem(draftKey);
      const button = document.getElementById("btn-reply");
      setTimeout(() => { button.disabled = true; }, 0);
    });
    const canned = document.getElementById("canned");
    canned.addEventListener("change", () => {
      if (!canned.value) return;
      replyText.value = replyText.value ? replyText.value + "\n" + canned.value : canned.value;
      sessionStorage.setItem(draftKey, replyText.value);
      canned.value = "";
      replyText.focus();
    });
  }

  const kecamatan = document.getElementById("kecamatan");
  if (kecamatan) {
    const desa = document.getElementById("desa");
    kecamatan.addEventListener("change", async () => {
      desa.replaceChildren(el("option", { value: "", text: "— pilih —" }));
      desa.disabled = true;
      if (!kecamatan.value) return;
      const url = kecamatan.dataset.desaApi.replace("KODE", encodeURIComponent(kecamatan.value));
      const result = await request(url);
      if (result.ok && result.data) {
        result.data.forEach((d) => desa.appendChild(el("option", { value: d.code, text: d.name })));
        desa.disabled = false;
      }
    });
  }

  let timer = null;
  async function poll() {
    clearTimeout(timer);
    try {
      const result = await request(head.dataset.api);
      if (result.ok && result.data) {
        const d = result.data;
        if (d.state !== head.dataset.state || (d.operator || "") !== head.dataset.operator) {
          window.location.reload();  // buttons depend on who holds it
          return;
        }
        if (d.version !== version) {
          const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
          transcript.innerHTML = d.html;  // rendered and escaped by the server
          version = d.version;
          if (atBottom) scrollDown();
        }
      }
    } catch (e) { /* try again */ }
    timer = setTimeout(poll, POLL_MS);
  }
  timer = setTimeout(poll, POLL_MS);
})();
