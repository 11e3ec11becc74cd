"""The complaint core on real databases: filing, tickets, deadlines, lookups."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select

from lapor import deadlines, services, tickets
from lapor.db import session_scope
from lapor.models import Attachment, Complaint, StatusChange
from tests.factories import new_complaint

TICKET_RE = re.compile(r"^LK-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


def test_ticket_format_and_alphabet():
    drawn = {tickets.new_ticket() for _ in range(2000)}
    assert all(TICKET_RE.match(t) for t in drawn)
    assert len(drawn) == 2000  # no collisions in a small sample of a 31^6 space
    assert not set("0O1IL") & set(tickets.ALPHABET)


@pytest.mark.parametrize(
    "text",
    [
        "cek status LK-7KQ2MX",
        "status lk 7kq2mx",
        "LK7KQ2MX",
        "tiket: Lk-7kq2Mx ya",
        "lk_7KQ2MX",
    ],
)
def test_find_ticket_is_tolerant(text):
    assert tickets.find_ticket(text) == "LK-7KQ2MX"


@pytest.mark.parametrize("text", ["LK-7KQ2M", "LK-7KQ2MXX", "LK-0OQ2MX", "halo", ""])
def test_find_ticket_rejects_what_is_not_a_ticket(text):
    assert tickets.find_ticket(text) is None


def test_filing_stores_everything(session):
    filed = services.file_complaint(session, new_complaint())
    session.flush()
    stored = services.find_by_ticket(session, filed.ticket)
    assert stored is not None and TICKET_RE.match(stored.ticket)
    assert stored.status == "baru"
    assert (stored.kategori, stored.kecamatan_code, stored.desa_code) == (
        "pembangunan",
        "35.13.12",
        "35.13.12.2018",
    )
    assert stored.reporter_phone == "+6281234567890"
    assert stored.opd_code == filed.opd_code == "PUPR"
    assert stored.camat_code == filed.camat_code == "CAMAT-35.13.12"
    assert filed.camat_name == "Camat Paiton"
    assert [(h.from_status, h.to_status, h.actor) for h in stored.history] == [
        (None, "baru", "bot")
    ]
    assert stored.verify_due == deadlines.verify_due(stored.created_at)
    assert stored.verify_due > deadlines.local_date(stored.created_at)


def test_anonymous_report_keeps_no_name(session):
    filed = services.file_complaint(
        session, new_complaint(anonymous=True, reporter_name="Budi")
    )
    stored = services.find_by_ticket(session, filed.ticket)
    assert stored.anonymous is True and stored.reporter_name is None


def test_desa_without_kecamatan_gets_its_kecamatan(session):
    filed = services.file_complaint(session, new_complaint(kecamatan_code=None))
    assert services.find_by_ticket(session, filed.ticket).kecamatan_code == "35.13.12"


@pytest.mark.parametrize("bad", [dict(kategori="olahraga"), dict(detail="  ")])
def test_filing_refuses_incomplete_complaints(session, bad):
    with pytest.raises(ValueError):
        services.file_complaint(session, new_complaint(**bad))


def test_pending_media_is_attached_at_filing(session):
    session.add(Attachment(sender_id="6281234567890", kind="image", path="/tmp/x.jpg"))
    session.add(Attachment(sender_id="628999", kind="image", path="/tmp/y.jpg"))
    session.flush()
    filed = services.file_complaint(session, new_complaint())
    assert filed.attachments == 1
    stored = services.find_by_ticket(session, filed.ticket)
    assert [a.path for a in stored.attachments] == ["/tmp/x.jpg"]


def test_complaints_of_lists_only_the_senders_own(session):
    mine = [services.file_complaint(session, new_complaint()).ticket for _ in range(3)]
    services.file_complaint(session, new_complaint(reporter_id="628111"))
    listed = [c.ticket for c in services.complaints_of(session, "6281234567890")]
    assert listed == list(reversed(mine))


def test_ticket_collision_draws_another(session, monkeypatch):
    first = services.file_complaint(session, new_complaint())
    drawn = iter([first.ticket, first.ticket, "LK-ABCDEF"])
    monkeypatch.setattr(tickets, "new_ticket", lambda: next(drawn))
    second = services.file_complaint(session, new_complaint())
    assert second.ticket == "LK-ABCDEF"
    assert session.scalar(select(func.count()).select_from(Complaint)) == 2


def test_filing_again_from_the_same_message_keeps_the_ticket(session):
    """A turn run again after a crash files nothing new (migration 0005)."""
    first = services.file_complaint(
        session, new_complaint(source_message_id="wamid.kirim-1")
    )
    again = services.file_complaint(
        session, new_complaint(source_message_id="wamid.kirim-1")
    )
    other = services.file_complaint(
        session, new_complaint(source_message_id="wamid.kirim-2")
    )
    assert again == first
    assert other.ticket != first.ticket
    assert session.scalar(select(func.count()).select_from(Complaint)) == 2
    assert session.scalar(select(func.count()).select_from(StatusChange)) == 2


def file_concurrently(db_url: str, threads: int, **fields) -> list[str]:
    """``threads`` filings at once (each retried on a commit-time conflict, as
    a caller does); the tickets they were told."""
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                try:
                    with session_scope(db_url) as s:
                        new = new_complaint(**fields)
                        results.append(services.file_complaint(s, new).ticket)
                    break
                except Exception as exc:  # a commit-time conflict: the caller retries
                    if (
                        "unique" not in str(exc).lower()
                        and "locked" not in str(exc).lower()
                    ):
                        raise
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    assert not errors
    return results


def test_concurrent_filing_from_one_message_files_once(db_url):
    """Two workers on the same message at once: one complaint, one ticket."""
    results = file_concurrently(db_url, 4, source_message_id="wamid.kirim-same")
    assert len(results) == 4 and len(set(results)) == 1
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 1


def test_concurrent_filing_gives_unique_tickets(db_url, monkeypatch):
    """Eight threads file at once with a tiny ticket space: all succeed, all unique."""
    space = iter(
        ["LK-AAAAAA", "LK-BBBBBB"] * 4 + [f"LK-{c * 6}" for c in "CDEFGHJKMN"] * 3
    )
    lock = threading.Lock()

    def draw() -> str:
        with lock:
            return next(space)

    monkeypatch.setattr(tickets, "new_ticket", draw)
    results = file_concurrently(db_url, 8)
    assert len(results) == 8 and len(set(results)) == 8
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count(func.distinct(Complaint.ticket)))) == 8
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 8


@pytest.mark.parametrize(
    "filed_on, due",
    [
        (dt.date(2026, 12, 1), dt.date(2026, 12, 4)),  # Tue -> Fri
        (dt.date(2026, 12, 3), dt.date(2026, 12, 8)),  # Thu -> over a weekend
        (dt.date(2026, 12, 5), dt.date(2026, 12, 9)),  # filed on a Saturday
        (dt.date(2026, 12, 23), dt.date(2026, 12, 30)),  # Christmas + cuti bersama
        (
            dt.date(2026, 3, 17),
            dt.date(2026, 3, 27),
        ),  # Nyepi, Idul Fitri + cuti bersama
        (dt.date(2027, 8, 13), dt.date(2027, 8, 19)),  # Independence Day on a Tuesday
    ],
)
def test_verification_deadline_counts_working_days(filed_on, due):
    assert deadlines.add_working_days(filed_on, 3) == due
    day, counted = filed_on, 0
    while day < due:
        day += dt.timedelta(days=1)
        counted += deadlines.is_working_day(day)
    assert counted == 3


def test_verify_due_uses_the_date_in_probolinggo():
    # 20:00 UTC on 24 Dec is 03:00 WIB on Christmas Day.
    moment = dt.datetime(2026, 12, 24, 20, 0, tzinfo=dt.timezone.utc)
    assert deadlines.local_date(moment) == dt.date(2026, 12, 25)
    assert deadlines.verify_due(moment) == deadlines.add_working_days(
        dt.date(2026, 12, 25), 3
    )


def test_format_date_in_indonesian():
    assert deadlines.format_date(dt.date(2026, 12, 30)) == "Rabu, 30 Desember 2026"
