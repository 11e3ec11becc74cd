"""In a real browser (Debian's chromium via Playwright): a WhatsApp complaint from
verification to selesai and back.

A citizen's complaint (filed on WhatsApp) is verified by an operator inside the
24-hour window (a text reaches the fake Graph API), then forwarded outside it (a
template); the OPD liaison logs in, sees only their unit's complaints, writes a
follow-up with a picked target date and marks it selesai with a note and a
photo (templates, the window being closed); the citizen's "Belum" reopens it and
the console shows it reopened. Screenshots go to ``var/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import pytest
from console_helpers import PASSWORD

from lapor import db, deadlines, notify, services, workflow
from lapor.models import Conversation, utcnow
from lapor.whatsapp.fake_graph import tiny_png

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "screenshots"
CITIZEN = "6281355550777"
OTHER = "6281355550888"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _window(hours_ago: float) -> None:
    with db.session_scope() as s:
        conv = s.get(Conversation, CITIZEN)
        if conv is None:
            conv = Conversation(sender_id=CITIZEN, state="bot")
            s.add(conv)
        conv.last_citizen_message_at = utcnow() - dt.timedelta(hours=hours_ago)


@pytest.fixture
def console(tmp_path, monkeypatch, fake_graph):
    """The console (waitress, in a thread) on a fresh SQLite database."""
    from waitress.server import create_server

    from lapor.console import create_app
    from lapor.console.auth import create_user

    url = f"sqlite:///{tmp_path / 'lapor.db'}"
    db.migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    create_user("budi", PASSWORD, role="operator", full_name="Budi Santoso")
    create_user(
        "pupr", PASSWORD, role="opd", full_name="Penghubung PUPR", opd_code="PUPR"
    )
    app = create_app({"SECRET_KEY": "browser-test"})
    port = _free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{port}", "graph": fake_graph, "tmp": tmp_path}
    server.close()


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/masuk")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_complaint_from_verification_to_reopening_in_a_browser(console):
    from playwright.sync_api import expect, sync_playwright

    base, graph = console["base"], console["graph"]
    with db.session_scope() as s:
        ticket = services.file_complaint(
            s,
            services.NewComplaint(
                kategori="pembangunan",
                detail="Jalan desa Sumberanyar rusak parah, banyak lubang, "
                "sudah 3 bulan tidak diperbaiki",
                reporter_id=CITIZEN,
                channel="whatsapp",
                kecamatan_code="35.13.12",
                desa_code=None,
                reporter_name="Pak Slamet",
            ),
        ).ticket
        # Another unit's complaint, already forwarded to Dinkes.
        other = services.file_complaint(
            s,
            services.NewComplaint(
                kategori="kesehatan",
                detail="Puskesmas tutup pada jam layanan, warga tidak dilayani",
                reporter_id=OTHER,
                channel="whatsapp",
                kecamatan_code="35.13.01",
            ),
        ).ticket
        staff = workflow.StaffActor("sari", "operator")
        c = services.find_by_ticket(s, other)
        workflow.verify(s, c, staff)
        workflow.dispose(s, c, staff, ["DINKES"])
    _window(1)  # the citizen wrote an hour ago: free text goes through
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def sent_to_citizen() -> list[dict]:
        return [m for m in graph.messages if m.get("to") == CITIZEN]

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)

        # The operator finds the new complaint in the list.
        _login(page, base, "budi")
        page.goto(f"{base}/aduan")
        rows = page.locator("table.complaints tbody tr")
        expect(rows).to_have_count(2)
        row = page.locator(f'tr[data-ticket="{ticket}"]')
        expect(row).to_contain_text("Baru")
        expect(row).to_contain_text("Paiton")
        page.screenshot(path=str(SCREENSHOTS / "aduan-daftar.png"), full_page=True)
        row.locator("a").first.click()
        expect(page).to_have_url(f"{base}/aduan/{ticket}")
        expect(page.locator("#reporter")).to_contain_text("Pak Slamet")

        # Verify inside the window: a free text reaches the citizen.
        page.click("#btn-verify")
        expect(page.locator(".flash-ok").first).to_have_text(
            "Laporan telah diverifikasi."
        )
        expect(page.locator(".flash-ok").nth(1)).to_contain_text("(teks biasa)")
        [first] = sent_to_citizen()
        assert first["type"] == "text" and ticket in first["text"]["body"]

        # The window closes; forwarding to the suggested OPD and camat goes
        # out as the approved template.
        _window(30)
        form = page.locator("#form-dispose")
        expect(form.locator('input[value="PUPR"]')).to_be_checked()
        expect(form.locator('input[value="CAMAT-35.13.12"]')).to_be_checked()
        form.locator('input[name="catatan"]').fill("Mohon dicek minggu ini")
        page.click("#btn-dispose")
        expect(page.locator(".flash-ok").nth(1)).to_contain_text("(templat)")
        expect(page.locator("#units")).to_contain_text(
            "Dinas Pekerjaan Umum dan Penataan Ruang serta Camat Paiton"
        )
        second = sent_to_citizen()[-1]
        assert len(sent_to_citizen()) == 2 and second["type"] == "template"
        params = [p["text"] for p in second["template"]["components"][0]["parameters"]]
        assert params[0] == ticket and "Dinas Pekerjaan Umum" in params[2]
        page.click("button:has-text('Keluar')")

        # The PUPR liaison sees only their unit's complaint.
        _login(page, base, "pupr")
        expect(page).to_have_url(f"{base}/aduan")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(ticket)
        assert other not in page.content()
        page.goto(f"{base}/aduan/{other}")
        expect(page.locator("h1")).to_have_text("Tidak ditemukan")
        page.goto(f"{base}/aduan/{ticket}")
        expect(page.locator("#form-verify")).to_have_count(0)
        expect(page.locator("#form-dispose")).to_have_count(0)

        # Follow-up with a target date picked in the date input.
        target = deadlines.local_date() + dt.timedelta(days=45)
        page.fill(
            "textarea[name=uraian]", "Tim teknis sudah survei; penambalan dijadwalkan"
        )
        page.fill("#target-date", target.isoformat())
        expect(page.locator("#target-date-choice")).to_be_checked()
        page.click("#btn-follow-up")
        expect(page.locator(".flash-ok").first).to_have_text("Tindak lanjut tersimpan.")
        expect(page.locator("#status-badge")).to_have_text("Ditindaklanjuti")
        expect(page.locator("#target")).to_have_text(deadlines.format_date(target))
        third = sent_to_citizen()[-1]
        assert len(sent_to_citizen()) == 3 and third["type"] == "template"
        assert (
            "Tim teknis" in third["template"]["components"][0]["parameters"][2]["text"]
        )

        # Selesai with a result note and a photo.
        photo = console["tmp"] / "hasil.png"
        photo.write_bytes(tiny_png(40, 30, (40, 120, 200)))
        page.fill("textarea[name=hasil]", "Jalan sudah ditambal sepanjang 200 meter")
        page.set_input_files("input[name=foto]", str(photo))
        page.click("#btn-complete")
        expect(page.locator(".flash-ok").first).to_have_text(
            "Laporan ditandai selesai."
        )
        expect(page.locator("#status-badge")).to_have_text("Selesai")
        image = page.locator(".gallery img.photo")
        expect(image).to_have_count(1)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 40
        fourth = sent_to_citizen()[-1]
        assert len(sent_to_citizen()) == 4 and fourth["type"] == "template"
        note = fourth["template"]["components"][0]["parameters"][2]["text"]
        assert "Jalan sudah ditambal" in note and "BELUM" in note
        page.screenshot(path=str(SCREENSHOTS / "aduan-detail.png"), full_page=True)

        # The citizen answers "Belum" (the bot's path calls this): reopened.
        with db.session_scope() as s:
            change = workflow.citizen_confirms(s, ticket, CITIZEN, resolved=False)
            change_id = change.id
        with db.session_scope() as s:
            from lapor.models import Complaint, StatusChange

            change = s.get(StatusChange, change_id)
            record = notify.notify_change(
                s, s.get(Complaint, change.complaint_id), change
            )
            assert record.delivery == "sent"
        assert len(sent_to_citizen()) == 5
        page.reload()
        expect(page.locator("#status-badge")).to_have_text("Ditindaklanjuti")
        expect(page.locator("#history li").last).to_contain_text(
            "Dibuka kembali: pelapor menyatakan masalah belum beres"
        )
        expect(page.locator("#history li").last).to_contain_text("warga")
        expect(page.locator("#form-complete")).to_have_count(1)

        # The dashboard counts it, on the map too.
        page.goto(f"{base}/dasbor")
        expect(page.locator("#kpi-total")).to_have_text("1")
        expect(page.locator('svg.map path[data-code="35.13.12"]')).to_have_attribute(
            "data-count", "1"
        )
        page.screenshot(path=str(SCREENSHOTS / "dasbor-opd.png"), full_page=True)
        page.click("button:has-text('Keluar')")
        _login(page, base, "budi")
        page.goto(f"{base}/dasbor")
        expect(page.locator("#kpi-total")).to_have_text("2")
        expect(page.locator("svg.map title", has_text="Paiton: 1 aduan")).to_have_count(
            1
        )
        page.screenshot(path=str(SCREENSHOTS / "dasbor.png"), full_page=True)
        browser.close()
