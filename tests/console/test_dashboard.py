"""The dashboard on a seeded data set: counts, ISO weeks, medians, overdue by unit,
the kecamatan map (and its absence without region data), the OPD's own view."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from console_helpers import PASSWORD, logged_in

from lapor import db, deadlines, services
from lapor.console.auth import create_user
from lapor.console.dashboard import classes, compute, human_hours
from lapor.models import Complaint, utcnow

WIB = ZoneInfo("Asia/Jakarta")
PAITON, SUKAPURA = "35.13.12", "35.13.01"

# name: (days ago, kecamatan, kategori, status, opd, camat, responded h, resolved h,
#        late deadline?)
SEED = {
    "a": (2, PAITON, "pembangunan", "ditindaklanjuti", "PUPR", None, 10, None, False),
    "b": (9, PAITON, "kesehatan", "selesai", "DINKES", None, 30, 100, False),
    "c": (
        20,
        SUKAPURA,
        "pemerintahan",
        "selesai",
        "DISPENDUKCAPIL",
        None,
        5,
        50,
        False,
    ),
    "d": (40, SUKAPURA, "pembangunan", "baru", None, None, None, None, True),
    "e": (100, None, "kesehatan", "ditolak", None, None, None, None, False),
    "f": (
        15,
        PAITON,
        "pembangunan",
        "didisposisikan",
        "PUPR",
        "CAMAT-35.13.12",
        None,
        None,
        True,
    ),
}


@pytest.fixture
def seeded(app) -> dict[str, str]:
    now = utcnow()
    today = deadlines.local_date(now)
    tickets = {}
    for name, (ago, kec, kategori, status, opd, camat, resp, res, late) in SEED.items():
        with db.session_scope() as s:
            filed = services.file_complaint(
                s,
                services.NewComplaint(
                    kategori=kategori,
                    detail=f"Laporan uji dasbor {name} dengan rincian yang cukup",
                    reporter_id=f"62812000000{ord(name)}",
                    channel="whatsapp",
                    kecamatan_code=kec,
                ),
            )
            c = services.find_by_ticket(s, filed.ticket)
            created = now - dt.timedelta(days=ago)
            c.created_at = created
            c.status = status
            c.opd_code, c.camat_code = opd, camat
            c.verify_due = today + dt.timedelta(days=3)
            if status == "baru" and late:
                c.verify_due = today - dt.timedelta(days=14)
            if status == "didisposisikan":
                c.disposed_at = created
                c.respond_due = (
                    today - dt.timedelta(days=10) if late else today + dt.timedelta(5)
                )
            if status == "ditindaklanjuti":
                c.target_date = today + dt.timedelta(days=30)
            c.responded_at = created + dt.timedelta(hours=resp) if resp else None
            c.resolved_at = created + dt.timedelta(hours=res) if res else None
            tickets[name] = filed.ticket
    return tickets


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def _key_counts(page: str, table: str) -> dict[str, int]:
    block = re.search(rf'<table class="mini" id="{table}">(.*?)</table>', page, re.S)
    assert block, table
    return {
        k: int(v) for k, v in re.findall(r'data-key="([^"]+)">(\d+)<', block.group(1))
    }


def test_dashboard_numbers_match_the_seed(app, budi, seeded):
    page = budi.get("/dasbor").get_data(as_text=True)
    assert re.search(r'id="kpi-total">6<', page)

    statuses = {}
    kategori = {}
    for _, _, kat, status, *_ in SEED.values():
        statuses[status] = statuses.get(status, 0) + 1
        kategori[kat] = kategori.get(kat, 0) + 1
    shown = _key_counts(page, "by-status")
    assert {k: v for k, v in shown.items() if v} == statuses
    assert shown["diverifikasi"] == 0
    assert _key_counts(page, "by-kategori") == kategori

    # Medians, computed here from the seed.
    response = _median([v[6] for v in SEED.values() if v[6] is not None])
    selesai = _median([v[7] for v in SEED.values() if v[7] is not None])
    assert (response, selesai) == (10, 75)
    assert re.search(rf'id="kpi-response">{re.escape(human_hours(response))}<', page)
    assert re.search(rf'id="kpi-selesai">{re.escape(human_hours(selesai))}<', page)
    with db.session_scope() as s:
        stats = compute(list(s.query(Complaint)), deadlines.local_date())
    assert stats.median_response_hours == pytest.approx(response, abs=0.01)
    assert stats.median_selesai_hours == pytest.approx(selesai, abs=0.01)

    # Overdue: d (not forwarded yet) and f (PUPR and the camat of Paiton).
    assert re.search(r'id="kpi-overdue">2<', page)
    assert _key_counts(page, "overdue-units") == {
        "Belum diteruskan": 1,
        "PUPR": 1,
        "CAMAT-35.13.12": 1,
    }

    # ISO weeks of the filing date in WIB, the last 12 weeks.
    today = deadlines.local_date()
    first_monday = today - dt.timedelta(days=today.weekday(), weeks=11)
    expected_weeks: dict[str, int] = {}
    with db.session_scope() as s:
        for c in s.query(Complaint):
            created = c.created_at
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.timezone.utc)
            local = created.astimezone(WIB).date()
            if local >= first_monday:
                year, week, _ = local.isocalendar()
                label = f"{year}-W{week:02d}"
                expected_weeks[label] = expected_weeks.get(label, 0) + 1
    weeks = dict(
        (label, int(n))
        for label, n in re.findall(r"<title>Minggu (\d{4}-W\d\d): (\d+) aduan", page)
    )
    assert len(weeks) == 12
    assert {k: v for k, v in weeks.items() if v} == expected_weeks
    assert sum(weeks.values()) == 5  # e was filed 100 days ago

    # The map: one shape per kecamatan, shaded by count, with tooltips.
    assert '<svg class="map"' in page
    assert (
        len(re.findall(r'<path d="M[^"]+" fill="#[0-9a-f]{6}" class="kec"', page)) == 24
    )
    assert "<title>Paiton: 3 aduan</title>" in page
    assert "<title>Sukapura: 2 aduan</title>" in page
    assert "<title>Tongas: 0 aduan</title>" in page
    fill_of = {
        code: fill
        for fill, code in re.findall(
            r'fill="(#[0-9a-f]{6})" class="kec" data-code="([\d.]+)"', page
        )
    }
    assert len({fill_of[PAITON], fill_of[SUKAPURA], fill_of["35.13.02"]}) == 3
    assert "Jumlah aduan:" in page  # the legend


def test_opd_sees_only_their_units_numbers(app, seeded):
    create_user("pupr", PASSWORD, role="opd", opd_code="PUPR")
    page = logged_in(app, "pupr").get("/dasbor").get_data(as_text=True)
    # a (ditindaklanjuti) and f (didisposisikan) are PUPR's.
    assert re.search(r'id="kpi-total">2<', page)
    assert {k: v for k, v in _key_counts(page, "by-status").items() if v} == {
        "ditindaklanjuti": 1,
        "didisposisikan": 1,
    }
    assert re.search(r'id="kpi-overdue">1<', page)
    assert "<title>Paiton: 2 aduan</title>" in page
    assert "<title>Sukapura: 0 aduan</title>" in page


def test_without_region_data_the_map_is_a_note(
    app, budi, seeded, monkeypatch, tmp_path
):
    monkeypatch.setenv("WILAYAH_DIR", str(tmp_path / "tidak-ada"))
    page = budi.get("/dasbor").get_data(as_text=True)
    assert 'id="no-map"' in page and '<svg class="map"' not in page
    assert re.search(r'id="kpi-total">6<', page)


def test_helpers():
    assert human_hours(None) == "-"
    assert human_hours(0.2) == "kurang dari 1 jam"
    assert human_hours(10) == "10 jam"
    assert human_hours(75) == "3 hari 3 jam"
    assert human_hours(48) == "2 hari"
    assert classes([0, 0]) == []
    assert classes([3, 1, 0]) == [1, 2, 3]
    assert classes([12, 0]) == [3, 6, 9, 12]
    assert classes([10]) == [2, 4, 6, 8, 10]
