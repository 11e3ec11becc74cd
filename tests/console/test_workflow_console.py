"""The complaint pages of the console (Flask test client, SQLite and PostgreSQL):
the workflow by role, required reasons, notifications through the fake Graph API,
the CSV export, quiet closing, Open311 on the console app and the routing editor."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from console_helpers import PASSWORD, logged_in
from sqlalchemy import select

from lapor import db, deadlines, routing, services, workflow
from lapor.console.auth import create_user
from lapor.models import (
    Attachment,
    Complaint,
    ComplaintMessage,
    Conversation,
    StatusChange,
    utcnow,
)
from lapor.whatsapp.fake_graph import tiny_png

CITIZEN = "6281234567890"
FLASH_RE = re.compile(r'<div class="flash flash-(\w+)" role="status">(.*?)</div>', re.S)


# ----------------------------------------------------------------------- helpers


def _file(
    kategori: str = "pembangunan",
    detail: str = "Jalan rusak parah dan berlubang di depan balai desa sejak 3 bulan",
    reporter_id: str = CITIZEN,
    kecamatan: str | None = "35.13.12",
    channel: str = "whatsapp",
    **extra,
) -> str:
    with db.session_scope() as s:
        filed = services.file_complaint(
            s,
            services.NewComplaint(
                kategori=kategori,
                detail=detail,
                reporter_id=reporter_id,
                channel=channel,
                kecamatan_code=kecamatan,
                **extra,
            ),
        )
    return filed.ticket


def _window(sender_id: str, hours_ago: float) -> None:
    """Place the citizen's last message ``hours_ago`` hours back."""
    with db.session_scope() as s:
        conv = s.get(Conversation, sender_id)
        if conv is None:
            conv = Conversation(sender_id=sender_id, state="bot")
            s.add(conv)
        conv.last_citizen_message_at = utcnow() - dt.timedelta(hours=hours_ago)


def _post(client, url: str, data: dict | None = None, **kwargs):
    response = client.post(
        url,
        data={"csrf_token": client.csrf, **(data or {})},
        follow_redirects=True,
        **kwargs,
    )
    text = response.get_data(as_text=True)
    flashes = [(c, html.unescape(m)) for c, m in FLASH_RE.findall(text)]
    return response, text, flashes


def _complaint(ticket: str) -> Complaint:
    with db.session_scope() as s:
        return services.find_by_ticket(s, ticket)


def _history(ticket: str) -> list[tuple[str | None, str, str]]:
    with db.session_scope() as s:
        c = services.find_by_ticket(s, ticket)
        return [
            (h.from_status, h.to_status, h.actor)
            for h in s.scalars(
                select(StatusChange)
                .where(StatusChange.complaint_id == c.id)
                .order_by(StatusChange.id)
            )
        ]


def _disposed(budi, ticket: str, units=("PUPR", "CAMAT-35.13.12")) -> None:
    _, _, flashes = _post(budi, f"/aduan/{ticket}/verifikasi")
    assert flashes[0] == ("ok", "Laporan telah diverifikasi."), flashes
    _, _, flashes = _post(budi, f"/aduan/{ticket}/disposisi", {"unit": list(units)})
    assert flashes[0][0] == "ok", flashes


@pytest.fixture(autouse=True)
def _graph(fake_graph):
    """Every test talks to the fake Graph API only (never to Meta)."""
    return fake_graph


@pytest.fixture
def liaisons(app):
    create_user("pupr", PASSWORD, role="opd", opd_code="PUPR")
    create_user("camat", PASSWORD, role="opd", opd_code="CAMAT-35.13.12")
    return {
        "pupr": logged_in(app, "pupr"),
        "camat": logged_in(app, "camat"),
        "dinkes": logged_in(app, "dinkes"),
    }


# ------------------------------------------------------------------ Open311


def test_open311_answers_through_the_console_app(app, monkeypatch):
    monkeypatch.setenv("OPEN311_API_KEYS", "kunci-uji-1")
    client = app.test_client()  # not logged in
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200 and r.is_json
    assert {s["service_code"] for s in r.get_json()} == {
        "pemerintahan",
        "pembangunan",
        "kesehatan",
    }
    # CSRF does not apply to the API (its POST needs the API key instead).
    r = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "pembangunan", "description": "Saluran tersumbat"},
    )
    assert r.status_code == 400 and "api_key" in r.get_json()[0]["description"]
    r = client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": "kunci-uji-1",
            "service_code": "pembangunan",
            "description": "Saluran air tersumbat di depan pasar",
            "address_string": "desa Sumberanyar kec Paiton",
        },
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()[0]["service_request_id"].startswith("LK-")
    missing = client.get("/open311/v2/requests/LK-ZZZZZZ.json")
    assert missing.status_code == 404 and missing.is_json


# --------------------------------------------------------------- the workflow


def test_operator_and_liaison_take_a_complaint_to_selesai(
    app, budi, liaisons, fake_graph
):
    ticket = _file()
    _window(CITIZEN, 1)  # inside the 24-hour window: free text
    # The operator's list shows it; the OPD liaison's does not yet (baru).
    assert ticket in budi.get("/aduan").get_data(as_text=True)
    assert ticket not in liaisons["pupr"].get("/aduan").get_data(as_text=True)
    assert liaisons["pupr"].get(f"/aduan/{ticket}").status_code == 404

    page = budi.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert 'id="form-verify"' in page and 'id="form-follow-up"' not in page

    _, _, flashes = _post(budi, f"/aduan/{ticket}/verifikasi")
    assert flashes == [
        ("ok", "Laporan telah diverifikasi."),
        ("ok", "Warga sudah diberi tahu lewat WhatsApp (teks biasa)."),
    ]
    [sent] = fake_graph.messages
    assert sent["to"] == CITIZEN and sent["type"] == "text"
    assert ticket in sent["text"]["body"]

    # The disposition form suggests the routing table's OPD and the camat.
    page = budi.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert re.search(r'name="unit" value="PUPR" checked', page)
    assert re.search(r'name="unit" value="CAMAT-35.13.12" checked', page)
    _, _, flashes = _post(
        budi,
        f"/aduan/{ticket}/disposisi",
        {"unit": ["PUPR", "CAMAT-35.13.12"], "catatan": "Mohon segera dicek"},
    )
    assert flashes[0] == ("ok", "Laporan telah diteruskan ke unit tujuan.")
    assert "teks biasa" in flashes[1][1]
    assert "Dinas Pekerjaan Umum" in fake_graph.messages[-1]["text"]["body"]
    c = _complaint(ticket)
    assert (c.status, c.opd_code, c.camat_code) == (
        "didisposisikan",
        "PUPR",
        "CAMAT-35.13.12",
    )

    # Both units see it now; Dinkes does not.
    for who in ("pupr", "camat"):
        assert ticket in liaisons[who].get("/aduan").get_data(as_text=True)
    assert ticket not in liaisons["dinkes"].get("/aduan").get_data(as_text=True)
    assert liaisons["dinkes"].get(f"/aduan/{ticket}").status_code == 404

    # Follow-up with a quick target of 7 working days.
    pupr = liaisons["pupr"]
    page = pupr.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert 'id="form-follow-up"' in page and 'id="form-verify"' not in page
    _, _, flashes = _post(
        pupr,
        f"/aduan/{ticket}/tindak-lanjut",
        {"uraian": "Tim survei turun ke lokasi besok pagi", "target": "7hk"},
    )
    assert flashes[0] == ("ok", "Tindak lanjut tersimpan."), flashes
    today = deadlines.local_date()
    expected = today
    for _ in range(7):  # counted here, independently of target_in
        expected += dt.timedelta(days=1)
        while not deadlines.is_working_day(expected):
            expected += dt.timedelta(days=1)
    c = _complaint(ticket)
    assert c.status == "ditindaklanjuti" and c.target_date == expected
    assert "Tim survei turun" in fake_graph.messages[-1]["text"]["body"]

    # A later follow-up with a picked date updates the target, no status change.
    picked = today + dt.timedelta(days=400)
    _, _, flashes = _post(
        pupr,
        f"/aduan/{ticket}/tindak-lanjut",
        {
            "uraian": "Masuk anggaran perubahan tahun depan",
            "target": "tanggal",
            "target_tanggal": picked.isoformat(),
        },
    )
    assert flashes[0][0] == "ok", flashes
    assert _complaint(ticket).target_date == picked
    assert "Masuk anggaran" in fake_graph.messages[-1]["text"]["body"]

    # Selesai with a photo: stored under MEDIA_DIR, shown on the page.
    photo = tiny_png()
    _, text, flashes = _post(
        pupr,
        f"/aduan/{ticket}/selesai",
        {"hasil": "Jalan sudah ditambal", "foto": (io.BytesIO(photo), "hasil.png")},
        content_type="multipart/form-data",
    )
    assert flashes[0] == ("ok", "Laporan ditandai selesai.")
    assert flashes[1] == (
        "ok",
        "Warga sudah diberi tahu lewat WhatsApp (pesan bertombol).",
    )
    last = fake_graph.messages[-1]
    assert last["type"] == "interactive"
    assert [b["reply"]["title"] for b in last["interactive"]["action"]["buttons"]] == [
        "Sudah beres",
        "Belum",
    ]
    with db.session_scope() as s:
        c = services.find_by_ticket(s, ticket)
        [attachment] = s.scalars(
            select(Attachment).where(Attachment.complaint_id == c.id)
        ).all()
        assert Path(attachment.path).read_bytes() == photo
        assert str(Path(attachment.path).parent).startswith(os.environ["MEDIA_DIR"])
        attachment_id = attachment.id
    url = f"/aduan/{ticket}/lampiran/{attachment_id}"
    assert url in text
    assert pupr.get(url).data == photo
    assert liaisons["dinkes"].get(url).status_code == 404
    assert _history(ticket) == [
        (None, "baru", "bot"),
        ("baru", "diverifikasi", "budi"),
        ("diverifikasi", "didisposisikan", "budi"),
        ("didisposisikan", "ditindaklanjuti", "pupr"),
        ("ditindaklanjuti", "selesai", "pupr"),
    ]
    # The detail page lists the notifications with how they went.
    page = budi.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert page.count("Pemberitahuan ke warga") == 5
    assert "pesan bertombol" in page and "teks biasa" in page


def test_outside_the_window_the_citizen_gets_the_template(app, budi, fake_graph):
    ticket = _file()
    _window(CITIZEN, 30)
    _, _, flashes = _post(budi, f"/aduan/{ticket}/tolak", {"alasan": "Bukan wilayah"})
    assert flashes == [
        ("ok", "Laporan ditolak."),
        ("ok", "Warga sudah diberi tahu lewat WhatsApp (templat)."),
    ]
    [sent] = fake_graph.messages
    assert sent["type"] == "template" and sent["to"] == CITIZEN
    params = [p["text"] for p in sent["template"]["components"][0]["parameters"]]
    assert params[0] == ticket and "Bukan wilayah" in params[2]


def test_a_failed_notification_is_said_and_the_change_stays(app, budi, monkeypatch):
    monkeypatch.setenv("WHATSAPP_API_URL", "http://127.0.0.1:9/v21.0")
    monkeypatch.setenv("WHATSAPP_RETRY_INITIAL", "0.01")
    monkeypatch.setenv("WHATSAPP_RETRY_MAX", "0.02")
    ticket = _file()
    _window(CITIZEN, 1)
    _, _, flashes = _post(budi, f"/aduan/{ticket}/verifikasi")
    assert flashes[0] == ("ok", "Laporan telah diverifikasi.")
    assert flashes[1][0] == "error" and "gagal" in flashes[1][1]
    assert _complaint(ticket).status == "diverifikasi"


def test_not_whatsapp_complaints_are_not_sent(app, budi, fake_graph):
    ticket = _file(channel="open311", reporter_id="open311:abc")
    _, _, flashes = _post(budi, f"/aduan/{ticket}/verifikasi")
    assert flashes[1][0] == "info" and "tidak masuk lewat WhatsApp" in flashes[1][1]
    assert fake_graph.messages == []


# ---------------------------------------------------------------- role limits


def test_role_limits(app, budi, liaisons):
    ticket = _file()
    dinkes_ticket = _file(
        kategori="kesehatan",
        detail="Puskesmas tutup pada jam layanan, warga tidak dilayani",
    )
    # Pre-routed to DINKES at filing, but not forwarded yet: not visible.
    assert _complaint(dinkes_ticket).opd_code == "DINKES"
    dinkes = liaisons["dinkes"]
    assert dinkes_ticket not in dinkes.get("/aduan").get_data(as_text=True)
    assert dinkes.get(f"/aduan/{dinkes_ticket}").status_code == 404
    # An OPD liaison cannot verify, forward, reject or merge.
    for action, data in (
        ("verifikasi", {}),
        ("disposisi", {"unit": "DINKES"}),
        ("tolak", {"alasan": "x"}),
        ("gabung", {"tiket_utama": ticket}),
    ):
        r = dinkes.post(
            f"/aduan/{dinkes_ticket}/{action}", data={"csrf_token": dinkes.csrf, **data}
        )
        assert r.status_code == 403, action
    assert _complaint(dinkes_ticket).status == "baru"

    # Operators and admins cannot write a unit's follow-up or send it back:
    # workflow.follow_up/send_back belong to the unit's liaison.
    _disposed(budi, ticket)
    admin = logged_in(app, "admin")
    for client in (budi, admin):
        for action, data in (
            ("tindak-lanjut", {"uraian": "x", "target": "7hk"}),
            ("kembalikan", {"alasan": "x"}),
        ):
            r = client.post(
                f"/aduan/{ticket}/{action}", data={"csrf_token": client.csrf, **data}
            )
            assert r.status_code == 403, action
    # Another unit's liaison cannot act on it at all (it does not exist for them).
    for action in ("tindak-lanjut", "selesai", "kembalikan"):
        r = dinkes.post(
            f"/aduan/{ticket}/{action}",
            data={
                "csrf_token": dinkes.csrf,
                "uraian": "x",
                "hasil": "x",
                "alasan": "x",
            },
        )
        assert r.status_code == 404, action
    assert _complaint(ticket).status == "didisposisikan"
    # Only admins edit the routing table.
    assert budi.get("/admin/rute").status_code == 403
    assert dinkes.get("/admin/rute").status_code == 403
    assert dinkes.get("/dasbor").status_code == 200
    # Without the CSRF token nothing happens.
    r = budi.post(f"/aduan/{dinkes_ticket}/verifikasi")
    assert r.status_code == 400 and _complaint(dinkes_ticket).status == "baru"


def test_reasons_and_targets_are_required(app, budi, liaisons):
    ticket = _file()
    before = len(_history(ticket))
    _, _, flashes = _post(budi, f"/aduan/{ticket}/tolak", {"alasan": "   "})
    assert flashes == [("error", "Alasan penolakan wajib diisi.")]
    assert _complaint(ticket).status == "baru" and len(_history(ticket)) == before

    _disposed(budi, ticket)
    pupr = liaisons["pupr"]
    _, _, flashes = _post(pupr, f"/aduan/{ticket}/kembalikan", {"alasan": ""})
    assert flashes == [("error", "Alasan pengembalian wajib diisi.")]
    _, _, flashes = _post(pupr, f"/aduan/{ticket}/selesai", {"hasil": ""})
    assert flashes == [("error", "Catatan hasil penyelesaian wajib diisi.")]
    _, _, flashes = _post(
        pupr, f"/aduan/{ticket}/tindak-lanjut", {"uraian": "Dicek", "target": ""}
    )
    assert flashes == [("error", "Tanggal target penyelesaian wajib diisi.")]
    too_far = deadlines.local_date() + dt.timedelta(days=366 * 4)
    _, _, flashes = _post(
        pupr,
        f"/aduan/{ticket}/tindak-lanjut",
        {"uraian": "Dicek", "target": "tanggal", "target_tanggal": too_far.isoformat()},
    )
    assert flashes == [("error", "Tanggal target paling lama 3 tahun dari hari ini.")]
    _, _, flashes = _post(
        pupr,
        f"/aduan/{ticket}/selesai",
        {"hasil": "Beres", "foto": (io.BytesIO(b"MZ not an image"), "x.png")},
        content_type="multipart/form-data",
    )
    assert flashes == [("error", "Foto harus berupa gambar JPEG, PNG atau WebP.")]
    c = _complaint(ticket)
    assert c.status == "didisposisikan" and c.target_date is None
    with db.session_scope() as s:
        assert s.scalar(select(Attachment.id).limit(1)) is None

    # Three years is allowed (quick choice).
    _, _, flashes = _post(
        pupr,
        f"/aduan/{ticket}/tindak-lanjut",
        {"uraian": "Proyek besar", "target": "3th"},
    )
    assert flashes[0][0] == "ok"
    today = deadlines.local_date()
    assert _complaint(ticket).target_date == workflow.target_in(today, years=3)


def test_send_back_returns_it_to_the_operator(app, budi, liaisons):
    ticket = _file()
    _disposed(budi, ticket, units=("PUPR",))
    pupr = liaisons["pupr"]
    _, _, flashes = _post(
        pupr, f"/aduan/{ticket}/kembalikan", {"alasan": "Jalan provinsi, bukan kami"}
    )
    assert flashes[0][0] == "ok"
    c = _complaint(ticket)
    assert c.status == "diverifikasi" and c.opd_code is None
    assert pupr.get(f"/aduan/{ticket}").status_code == 404
    page = budi.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert "Jalan provinsi, bukan kami" in page and 'id="form-dispose"' in page


def test_merge_a_duplicate(app, budi):
    main = _file()
    dup = _file(reporter_id="6281234500099")
    _, _, flashes = _post(budi, f"/aduan/{dup}/gabung", {"tiket_utama": "LK-ZZZZZZ"})
    assert flashes == [("error", "Laporan utama LK-ZZZZZZ tidak ditemukan.")]
    _, _, flashes = _post(budi, f"/aduan/{dup}/gabung", {"tiket_utama": main.lower()})
    assert flashes[0] == ("ok", f"Laporan digabungkan ke {main}.")
    c = _complaint(dup)
    assert c.status == "ditolak" and c.merged_into_id == _complaint(main).id
    page = budi.get(f"/aduan/{main}").get_data(as_text=True)
    assert dup in page and f"Laporan {dup} digabungkan ke laporan ini" in page


def test_operator_completes_and_anonymous_is_hidden_from_the_unit(app, budi, liaisons):
    ticket = _file(
        kategori="kesehatan",
        detail="Puskesmas tutup pada jam layanan, warga tidak dilayani",
        reporter_name="Nama Rahasia",
        anonymous=True,
        reporter_id="6281234500001",
    )
    with db.session_scope() as s:  # the name given before choosing anonymity
        services.find_by_ticket(s, ticket).reporter_name = "Nama Rahasia"
    _disposed(budi, ticket, units=("DINKES",))
    unit_page = liaisons["dinkes"].get(f"/aduan/{ticket}").get_data(as_text=True)
    assert "Anonim (identitas dirahasiakan)" in unit_page
    assert "Nama Rahasia" not in unit_page
    assert "0812-3450-0001" not in unit_page and "6281234500001" not in unit_page
    staff_page = budi.get(f"/aduan/{ticket}").get_data(as_text=True)
    assert "Nama Rahasia" in staff_page
    _, _, flashes = _post(budi, f"/aduan/{ticket}/selesai", {"hasil": "Sudah buka"})
    assert flashes[0] == ("ok", "Laporan ditandai selesai.")
    assert _complaint(ticket).status == "selesai"


# ------------------------------------------------------------- list and CSV


def _csv(client, query: str = "") -> list[dict[str, str]]:
    r = client.get(f"/aduan.csv{query}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))


def test_list_filters_overdue_and_csv(app, budi, liaisons):
    paiton = _file(reporter_name="Pak Amin", reporter_id="6281200000001")
    sukapura = _file(
        kategori="kesehatan",
        detail="Puskesmas tutup pada jam layanan, warga tidak dilayani",
        kecamatan="35.13.01",
        reporter_name="Bu Siti",
        reporter_id="6281200000002",
    )
    anon = _file(
        detail="Lampu jalan mati sudah dua minggu di dusun krajan",
        anonymous=True,
        confidential=True,
        reporter_id="6281200000003",
    )
    # paiton is late: due three weeks ago (within the holiday data's years).
    today = deadlines.local_date()
    due = max(today - dt.timedelta(days=21), dt.date(2026, 1, 2))
    late = 0
    day = due + dt.timedelta(days=1)
    while day <= today:
        late += deadlines.is_working_day(day)
        day += dt.timedelta(days=1)
    with db.session_scope() as s:
        services.find_by_ticket(s, paiton).verify_due = due

    page = budi.get("/aduan").get_data(as_text=True)
    row = re.search(
        rf'<tr class="overdue" data-ticket="{paiton}">(.*?)</tr>', page, re.S
    )
    assert row, "the late complaint stands out"
    assert f"Terlambat {late} hari kerja" in row.group(1)
    assert "Verifikasi dan penerusan" in row.group(1)
    anon_row = re.search(rf'<tr class="" data-ticket="{anon}">(.*?)</tr>', page, re.S)
    assert anon_row and "Rahasia" in anon_row.group(1)

    def tickets(query: str) -> set[str]:
        body = budi.get(f"/aduan{query}").get_data(as_text=True)
        return set(re.findall(r'data-ticket="(LK-\w+)"', body))

    assert tickets("") == {paiton, sukapura, anon}
    assert tickets("?terlambat=1") == {paiton}
    assert tickets("?kategori=kesehatan") == {sukapura}
    assert tickets("?kecamatan=35.13.12") == {paiton, anon}
    assert tickets("?q=lampu+jalan") == {anon}
    assert tickets(f"?q={sukapura.lower()}") == {sukapura}
    assert tickets("?status=baru&unit=DINKES") == {sukapura}

    rows = _csv(budi, "?kecamatan=35.13.12")
    assert {r["tiket"] for r in rows} == {paiton, anon}
    by_ticket = {r["tiket"]: r for r in rows}
    assert by_ticket[paiton]["nama_pelapor"] == "Pak Amin"
    assert by_ticket[paiton]["terlambat_hari_kerja"] == str(late)
    assert by_ticket[paiton]["batas_tanggal"] == due.isoformat()
    assert by_ticket[anon]["nama_pelapor"] == ""
    assert by_ticket[anon]["anonim"] == "ya" and by_ticket[anon]["rahasia"] == "ya"
    assert {r["tiket"] for r in _csv(budi, "?terlambat=1")} == {paiton}
    raw = budi.get("/aduan.csv").get_data(as_text=True)
    for number in ("6281200000001", "081200000001", "0812-0000-0001", "+6281200000001"):
        assert number not in raw

    # The OPD liaison's CSV holds only their unit's forwarded complaints.
    _disposed(budi, anon, units=("PUPR",))
    _disposed(budi, sukapura, units=("DINKES",))
    pupr_rows = _csv(liaisons["pupr"])
    assert [r["tiket"] for r in pupr_rows] == [anon]
    assert pupr_rows[0]["nama_pelapor"] == ""
    # Filters cannot widen what a liaison sees.
    assert _csv(liaisons["pupr"], "?unit=DINKES") == []
    assert [r["tiket"] for r in _csv(liaisons["dinkes"])] == [sukapura]


# ------------------------------------------------------------ quiet closing


def test_close_quiet_now_closes_and_tells_the_citizen(app, budi, liaisons, fake_graph):
    from lapor.console.complaints import close_quiet_now

    ticket = _file()
    _disposed(budi, ticket, units=("PUPR",))
    _post(liaisons["pupr"], f"/aduan/{ticket}/selesai", {"hasil": "Sudah ditambal"})
    sent_before = len(fake_graph.messages)
    assert close_quiet_now() == []
    with db.session_scope() as s:
        c = services.find_by_ticket(s, ticket)
        c.resolved_at = utcnow() - dt.timedelta(days=30)
    assert close_quiet_now() == [ticket]
    c = _complaint(ticket)
    assert c.closed_at is not None and c.status == "selesai"
    assert _history(ticket)[-1] == ("selesai", "selesai", "sistem")
    assert len(fake_graph.messages) == sent_before + 1
    assert fake_graph.messages[-1]["type"] == "template"  # no window: template
    with db.session_scope() as s:
        notes = s.scalars(
            select(ComplaintMessage.delivery).where(
                ComplaintMessage.kind == "pemberitahuan"
            )
        ).all()
    assert notes[-1] == "sent"
    assert close_quiet_now() == []


# ----------------------------------------------------------- routing editor


@pytest.fixture
def routing_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "routing" / "routing.yml"
    path.parent.mkdir()
    shutil.copy(routing.DEFAULT_TABLE, path)
    monkeypatch.setenv("ROUTING_TABLE", str(path))
    return path


def _routing_form(client) -> dict[str, str]:
    page = client.get("/admin/rute").get_data(as_text=True)
    version = re.search(r'name="versi" value="([0-9a-f]+)"', page).group(1)
    text = html.unescape(
        re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    )
    return {"versi": version, "yaml": text}


def test_routing_editor_saves_a_valid_table(app, routing_copy):
    admin = logged_in(app, "admin")
    page = admin.get("/admin/rute").get_data(as_text=True)
    assert "Dinas Pekerjaan Umum dan Penataan Ruang" in page and "DINKES" in page
    form = _routing_form(admin)
    assert form["yaml"] == routing_copy.read_text(encoding="utf-8")
    text = "Kandang sapi tetangga bau sekali sampai ke rumah warga"
    # DISPERTA belongs to another kategori: the change only counts for it.
    kategori = routing.load_table().unit("DISPERTA").kategori
    assert routing.route(kategori, text, None).opd.code != "DISPERTA"
    marker = "  - code: DISPERTA\n"
    assert marker in form["yaml"]
    block_start = form["yaml"].index(marker)
    kw = form["yaml"].index("keywords:", block_start)
    line_end = form["yaml"].index("\n", kw)
    changed = form["yaml"][: line_end + 1] + "      - kandang sapi\n"
    changed += form["yaml"][line_end + 1 :]
    _, _, flashes = _post(
        admin, "/admin/rute", {"versi": form["versi"], "yaml": changed}
    )
    assert flashes and flashes[0][0] == "ok", flashes
    assert routing_copy.read_text(encoding="utf-8") == changed
    assert routing.route(kategori, text, None).opd.code == "DISPERTA"
    assert not list(routing_copy.parent.glob(".routing-*"))  # no temp files left


def test_routing_editor_refuses_an_invalid_table(app, routing_copy):
    admin = logged_in(app, "admin")
    before = routing_copy.read_bytes()
    form = _routing_form(admin)
    for broken, message in (
        (form["yaml"].replace("\nkategori:", "\nkategorii:", 1), "unknown top-level"),
        ("units: [\n", "not valid YAML"),
        (form["yaml"].replace("  - code: DINKES", "  - code: PUPR"), "duplicate"),
    ):
        r, text, _ = _post(
            admin, "/admin/rute", {"versi": form["versi"], "yaml": broken}
        )
        assert r.status_code == 400
        assert "Tabel rute tidak valid, tidak ada yang diubah" in html.unescape(text)
        assert message in html.unescape(text)
        assert routing_copy.read_bytes() == before
    # A stale page (someone saved in between) is refused too.
    r, text, _ = _post(admin, "/admin/rute", {"versi": "0" * 64, "yaml": form["yaml"]})
    assert r.status_code == 400 and "diubah orang lain" in text
    assert routing_copy.read_bytes() == before
    assert not list(routing_copy.parent.glob(".routing-*"))
