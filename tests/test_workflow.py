"""The complaint workflow on SQLite and PostgreSQL: transitions, roles, deadlines."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from lapor import deadlines, workflow
from lapor.models import Attachment, Complaint, ComplaintMessage, StatusChange
from lapor.workflow import StaffActor, WorkflowError
from tests.factories import REPORTER, filed_complaint

WIB = deadlines.WIB
OPERATOR = StaffActor("ops1", "operator")
ADMIN = StaffActor("admin1", "admin")
PUPR = StaffActor("pupr1", "opd", "PUPR")
CAMAT = StaffActor("camat.paiton", "opd", "CAMAT-35.13.12")
DINKES = StaffActor("dinkes1", "opd", "DINKES")


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, 0, tzinfo=WIB)


def disposed(session, units=("PUPR", "CAMAT-35.13.12"), now=None, **kw) -> Complaint:
    c = filed_complaint(session, **kw)
    workflow.verify(session, c, OPERATOR, now=now)
    workflow.dispose(session, c, OPERATOR, list(units), now=now)
    return c


def statuses(session, c: Complaint) -> list[tuple[str | None, str, str]]:
    rows = session.scalars(
        select(StatusChange)
        .where(StatusChange.complaint_id == c.id)
        .order_by(StatusChange.id)
    )
    return [(r.from_status, r.to_status, r.actor) for r in rows]


# ------------------------------------------------------------------ happy path


def test_full_life_records_every_step(session):
    c = filed_complaint(session)
    workflow.verify(session, c, OPERATOR, "Lokasi sudah jelas")
    change = workflow.dispose(
        session, c, OPERATOR, ["PUPR", "CAMAT-35.13.12"], "Segera"
    )
    assert c.status == "didisposisikan"
    assert (c.opd_code, c.camat_code) == ("PUPR", "CAMAT-35.13.12")
    assert c.disposed_at is not None and c.respond_due is not None
    assert "Dinas Pekerjaan Umum" in change.note and "Camat Paiton" in change.note

    today = deadlines.local_date()
    target = workflow.target_in(today, working_days=20)
    first = workflow.follow_up(session, c, PUPR, "Survei lapangan minggu ini", target)
    assert isinstance(first, StatusChange) and first.to_status == "ditindaklanjuti"
    assert c.status == "ditindaklanjuti" and c.target_date == target
    assert c.responded_at is not None

    later = workflow.target_in(today, years=2)
    second = workflow.follow_up(session, c, CAMAT, "Masuk anggaran tahun depan", later)
    assert isinstance(second, ComplaintMessage) and second.kind == "tindak_lanjut"
    assert second.unit_code == "CAMAT-35.13.12" and second.target_date == later
    assert c.status == "ditindaklanjuti" and c.target_date == later

    done = workflow.complete(
        session, c, CAMAT, "Jalan sudah ditambal", photo_path="/media/hasil.jpg"
    )
    assert done.to_status == "selesai" and c.resolved_at is not None
    photo = session.scalars(
        select(Attachment).where(Attachment.complaint_id == c.id)
    ).one()
    assert photo.path == "/media/hasil.jpg" and photo.kind == "image"
    result = session.scalars(
        select(ComplaintMessage).where(
            ComplaintMessage.complaint_id == c.id, ComplaintMessage.kind == "hasil"
        )
    ).one()
    assert result.attachment_id == photo.id and result.text == "Jalan sudah ditambal"

    assert statuses(session, c) == [
        (None, "baru", "bot"),
        ("baru", "diverifikasi", "ops1"),
        ("diverifikasi", "didisposisikan", "ops1"),
        ("didisposisikan", "ditindaklanjuti", "pupr1"),
        ("ditindaklanjuti", "selesai", "camat.paiton"),
    ]
    notes = [r.note for r in c.history]
    assert notes[1] == "Lokasi sudah jelas" and notes[-1] == "Jalan sudah ditambal"


def test_operator_may_close_directly(session):
    c = disposed(session)
    change = workflow.complete(session, c, OPERATOR, "Sudah diperbaiki oleh desa")
    assert change.to_status == "selesai" and change.actor == "ops1"


def test_admin_has_operator_rights(session):
    c = filed_complaint(session)
    workflow.verify(session, c, ADMIN)
    workflow.reject(session, c, ADMIN, "Bukan wewenang pemerintah kabupaten")
    assert c.status == "ditolak" and c.closed_at is not None


# ------------------------------------------------------------------ role rules


@pytest.mark.parametrize("actor", [PUPR, CAMAT])
def test_units_cannot_do_operator_steps(session, actor):
    c = filed_complaint(session)
    with pytest.raises(WorkflowError, match="operator atau admin"):
        workflow.verify(session, c, actor)
    workflow.verify(session, c, OPERATOR)
    with pytest.raises(WorkflowError, match="operator atau admin"):
        workflow.dispose(session, c, actor, ["PUPR"])
    with pytest.raises(WorkflowError, match="operator atau admin"):
        workflow.reject(session, c, actor, "tidak valid")
    other = filed_complaint(session)
    with pytest.raises(WorkflowError, match="operator atau admin"):
        workflow.merge(session, other, c, actor)
    assert c.status == "diverifikasi" and other.status == "baru"


def test_operator_cannot_write_follow_up_or_send_back(session):
    c = disposed(session)
    with pytest.raises(WorkflowError, match="penghubung OPD"):
        workflow.follow_up(
            session, c, OPERATOR, "x", deadlines.local_date() + dt.timedelta(days=5)
        )
    with pytest.raises(WorkflowError, match="penghubung OPD"):
        workflow.send_back(session, c, OPERATOR, "salah unit")
    assert c.status == "didisposisikan"


def test_other_unit_is_refused(session):
    c = disposed(session)
    target = deadlines.local_date() + dt.timedelta(days=10)
    for step in (
        lambda: workflow.follow_up(session, c, DINKES, "kami cek", target),
        lambda: workflow.complete(session, c, DINKES, "beres"),
        lambda: workflow.send_back(session, c, DINKES, "bukan kami"),
    ):
        with pytest.raises(WorkflowError, match="tidak diteruskan ke unit Anda"):
            step()
    assert not workflow.can_view(DINKES, c)
    assert workflow.can_view(PUPR, c) and workflow.can_view(CAMAT, c)
    assert workflow.can_view(OPERATOR, c)
    assert c.status == "didisposisikan"


def test_unit_sees_nothing_before_disposition(session):
    c = filed_complaint(session)  # routed (suggested) to PUPR, not yet forwarded
    assert c.opd_code == "PUPR"
    assert not workflow.can_view(PUPR, c)
    assert workflow.unit_complaints(session, "PUPR") == []
    with pytest.raises(WorkflowError, match="tidak diteruskan"):
        workflow.complete(session, c, PUPR, "beres")
    workflow.verify(session, c, OPERATOR)
    workflow.dispose(session, c, OPERATOR, ["PUPR"])
    assert [x.id for x in workflow.unit_complaints(session, "PUPR")] == [c.id]
    assert workflow.unit_complaints(session, "CAMAT-35.13.12") == []


def test_anonymous_reporter_hidden_from_unit(session):
    c = disposed(session, anonymous=True, reporter_name="Siti")
    assert workflow.reporter_view(PUPR, c) == {
        "name": "Anonim (identitas dirahasiakan)",
        "phone": None,
    }
    assert workflow.reporter_view(OPERATOR, c)["phone"] == "+6281234567890"
    named = disposed(session)
    assert workflow.reporter_view(PUPR, named)["name"] == "Budi Santoso"


# ---------------------------------------------------------- illegal transitions


def test_illegal_transitions(session):
    c = filed_complaint(session)
    with pytest.raises(WorkflowError, match="tidak dapat diteruskan"):
        workflow.dispose(session, c, OPERATOR, ["PUPR"])  # not verified yet
    with pytest.raises(WorkflowError, match="tidak dapat diselesaikan"):
        workflow.complete(session, c, OPERATOR, "beres")
    workflow.verify(session, c, OPERATOR)
    with pytest.raises(WorkflowError, match="tidak dapat diverifikasi"):
        workflow.verify(session, c, OPERATOR)
    workflow.dispose(session, c, OPERATOR, ["PUPR"])
    workflow.complete(session, c, PUPR, "Sudah ditambal")
    with pytest.raises(WorkflowError, match="tidak dapat ditolak"):
        workflow.reject(session, c, OPERATOR, "tidak valid")
    with pytest.raises(WorkflowError, match="tidak dapat ditindaklanjuti"):
        workflow.follow_up(
            session, c, PUPR, "lagi", deadlines.local_date() + dt.timedelta(days=3)
        )
    with pytest.raises(WorkflowError, match="tidak dapat dikembalikan"):
        workflow.send_back(session, c, PUPR, "bukan kami")
    assert [s for _, s, _ in statuses(session, c)][-1] == "selesai"


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_reasons_and_notes_are_required(session, blank):
    c = disposed(session)
    with pytest.raises(WorkflowError, match="Alasan penolakan wajib"):
        workflow.reject(session, c, OPERATOR, blank)
    with pytest.raises(WorkflowError, match="Alasan pengembalian wajib"):
        workflow.send_back(session, c, PUPR, blank)
    with pytest.raises(WorkflowError, match="Catatan hasil"):
        workflow.complete(session, c, PUPR, blank)
    with pytest.raises(WorkflowError, match="Uraian tindak lanjut"):
        workflow.follow_up(
            session, c, PUPR, blank, deadlines.local_date() + dt.timedelta(days=5)
        )
    assert c.status == "didisposisikan" and len(c.history) == 3


def test_target_date_rules(session):
    c = disposed(session)
    today = deadlines.local_date()
    with pytest.raises(WorkflowError, match="wajib"):
        workflow.follow_up(session, c, PUPR, "dicek", None)
    with pytest.raises(WorkflowError, match="sebelum hari ini"):
        workflow.follow_up(session, c, PUPR, "dicek", today - dt.timedelta(days=1))
    with pytest.raises(WorkflowError, match="3 tahun"):
        workflow.follow_up(
            session, c, PUPR, "dicek", workflow.target_in(today, years=4)
        )
    three = workflow.target_in(today, years=3)
    workflow.follow_up(session, c, PUPR, "Pembangunan jembatan baru", three)
    assert c.target_date == three and c.status == "ditindaklanjuti"


def test_dispose_validation(session):
    c = filed_complaint(session)
    workflow.verify(session, c, OPERATOR)
    with pytest.raises(WorkflowError, match="minimal satu unit"):
        workflow.dispose(session, c, OPERATOR, [])
    with pytest.raises(WorkflowError, match="tidak dikenal"):
        workflow.dispose(session, c, OPERATOR, ["DINAS-FIKTIF"])
    with pytest.raises(WorkflowError, match="satu OPD"):
        workflow.dispose(session, c, OPERATOR, ["PUPR", "DISHUB"])
    with pytest.raises(WorkflowError, match="bukan camat lokasi"):
        workflow.dispose(session, c, OPERATOR, ["CAMAT-35.13.01"])
    workflow.dispose(session, c, OPERATOR, ["camat-35.13.12"])  # camat only
    assert (c.opd_code, c.camat_code) == (None, "CAMAT-35.13.12")
    assert c.status == "didisposisikan"
    # Re-routing while still waiting for the unit is allowed.
    workflow.dispose(session, c, OPERATOR, ["DISHUB"])
    assert (c.opd_code, c.camat_code) == ("DISHUB", None)
    assert not workflow.can_view(CAMAT, c)


def test_send_back_returns_it_to_the_operator(session):
    c = disposed(session, now=at(2026, 12, 21))
    change = workflow.send_back(
        session, c, PUPR, "Ini lampu jalan, wewenang Dishub", now=at(2026, 12, 22)
    )
    assert change.to_status == "diverifikasi" and c.status == "diverifikasi"
    assert "bukan kewenangan kami" in change.note and "Dishub" in change.note
    assert c.opd_code is None and c.camat_code == "CAMAT-35.13.12"
    assert c.respond_due is None
    # 3 working days from Tue 22 Dec 2026: 23, (24 cuti bersama, 25 Natal), 28, 29.
    assert c.verify_due == dt.date(2026, 12, 29)
    assert not workflow.can_view(PUPR, c) and not workflow.can_view(CAMAT, c)
    workflow.dispose(session, c, OPERATOR, ["DISHUB", "CAMAT-35.13.12"])
    assert c.opd_code == "DISHUB" and c.status == "didisposisikan"


# ----------------------------------------------------------------------- merge


def test_merge_duplicate(session):
    main = disposed(session)
    dup = filed_complaint(session, reporter_id="6285000000001")
    change = workflow.merge(session, dup, main, OPERATOR)
    assert dup.status == "ditolak" and dup.merged_into_id == main.id
    assert change.note == f"digabung ke {main.ticket}"
    note = session.scalars(
        select(ComplaintMessage).where(ComplaintMessage.complaint_id == main.id)
    ).one()
    assert dup.ticket in note.text and note.kind == "catatan"
    assert main.status == "didisposisikan"
    with pytest.raises(WorkflowError, match="dirinya sendiri"):
        workflow.merge(session, main, main, OPERATOR)
    third = filed_complaint(session)
    with pytest.raises(WorkflowError, match="sudah ditolak atau digabungkan"):
        workflow.merge(session, third, dup, OPERATOR)
    workflow.complete(session, main, PUPR, "Sudah diperbaiki")
    with pytest.raises(WorkflowError, match="tidak dapat digabungkan"):
        workflow.merge(session, main, third, OPERATOR)


# ------------------------------------------------------- the citizen's answers


def test_belum_reopens_to_ditindaklanjuti(session):
    c = disposed(session)
    workflow.follow_up(
        session, c, PUPR, "Ditambal", deadlines.local_date() + dt.timedelta(days=7)
    )
    workflow.complete(session, c, PUPR, "Sudah ditambal")
    change = workflow.citizen_confirms(session, c.ticket.lower(), REPORTER, False)
    assert change.from_status == "selesai" and change.to_status == "ditindaklanjuti"
    assert change.actor == "warga" and "belum beres" in change.note
    assert c.status == "ditindaklanjuti" and c.resolved_at is None
    answer = session.scalars(
        select(ComplaintMessage).where(
            ComplaintMessage.complaint_id == c.id, ComplaintMessage.kind == "konfirmasi"
        )
    ).one()
    assert answer.meta == {"jawab": "belum"} and answer.status_change_id == change.id


def test_belum_without_follow_up_goes_back_to_the_unit(session):
    c = disposed(session)
    workflow.complete(session, c, OPERATOR, "Sudah dibersihkan warga")
    change = workflow.citizen_confirms(session, c.ticket, REPORTER, False, note="masih")
    assert change.to_status == "didisposisikan" and c.respond_due is not None
    assert change.note.endswith("masih")


def test_sudah_closes_and_only_the_reporter_may_answer(session):
    c = disposed(session)
    with pytest.raises(WorkflowError, match="belum berstatus selesai"):
        workflow.citizen_confirms(session, c.ticket, REPORTER, True)
    workflow.complete(session, c, PUPR, "Sudah ditambal")
    with pytest.raises(WorkflowError, match="hanya pelapor"):
        workflow.citizen_confirms(session, c.ticket, "6289999999999", False)
    with pytest.raises(WorkflowError, match="tidak ditemukan"):
        workflow.citizen_confirms(session, "LK-ZZZZZZ", REPORTER, True)
    answer = workflow.citizen_confirms(session, c.ticket, REPORTER, True)
    assert isinstance(answer, ComplaintMessage) and answer.meta == {"jawab": "sudah"}
    assert c.status == "selesai" and c.closed_at is not None
    with pytest.raises(WorkflowError, match="sudah ditutup"):
        workflow.citizen_confirms(session, c.ticket, REPORTER, False)
    assert c.status == "selesai"


def test_citizen_reply_lands_on_the_complaint(session):
    c = disposed(session)
    row = workflow.record_citizen_reply(session, c, "  Terima kasih, mohon cepat  ")
    assert row.text == "Terima kasih, mohon cepat" and row.author_role == "warga"
    assert row.complaint_id == c.id and row.kind == "balasan_warga"
    with pytest.raises(WorkflowError):
        workflow.record_citizen_reply(session, c, "   ")


# ------------------------------------------------------------------- deadlines


def test_verify_due_skips_christmas_and_cuti_bersama():
    # Tue 22 Dec 2026 + 3 working days: Wed 23, Mon 28, Tue 29 (24 cuti, 25 Natal).
    assert deadlines.verify_due(at(2026, 12, 22)) == dt.date(2026, 12, 29)
    # Tue 17 Mar 2026: Nyepi (18 cuti, 19), Idulfitri (20-24) -> 25, 26, 27.
    assert deadlines.verify_due(at(2026, 3, 17)) == dt.date(2026, 3, 27)


def test_respond_due_is_five_working_days_after_forwarding(session):
    c = disposed(session, now=at(2026, 12, 23))
    # 28, 29, 30, 31 Dec, (1 Jan 2027 holiday, weekend), 4 Jan.
    assert c.respond_due == dt.date(2027, 1, 4)
    assert workflow.current_deadline(c) == ("tanggapan", dt.date(2027, 1, 4))
    m = disposed(session, now=at(2026, 3, 16))
    # Mon 16 Mar 2026: 17, (18-24 holidays and cuti bersama), 25, 26, 27, 30.
    assert m.respond_due == dt.date(2026, 3, 30)


def test_overdue_lists_missed_deadlines(session):
    late_verify = filed_complaint(session)
    late_verify.verify_due = dt.date(2026, 12, 29)
    late_respond = disposed(session, now=at(2026, 12, 23))  # due 4 Jan 2027
    late_target = disposed(session, now=at(2026, 12, 14))
    workflow.follow_up(
        session,
        late_target,
        PUPR,
        "Ditambal",
        dt.date(2026, 12, 30),
        now=at(2026, 12, 15),
    )
    on_time = filed_complaint(session)
    on_time.verify_due = dt.date(2027, 1, 8)
    done = disposed(session, now=at(2026, 12, 1))
    workflow.complete(session, done, PUPR, "Selesai", now=at(2026, 12, 2))
    session.flush()

    today = dt.date(2027, 1, 6)  # Tue 5 Jan 2027 is Isra Mikraj
    found = {o.complaint.id: o for o in workflow.overdue(session, today)}
    assert set(found) == {late_verify.id, late_respond.id, late_target.id}
    # After 29 Dec: 30, 31, (1 Jan), 4, (5 Jan), 6 Jan -> 4 working days late.
    assert (
        found[late_verify.id].deadline,
        found[late_verify.id].working_days_late,
    ) == (
        "verifikasi",
        4,
    )
    assert (
        found[late_respond.id].deadline,
        found[late_respond.id].working_days_late,
    ) == (
        "tanggapan",
        1,
    )
    assert found[late_target.id].deadline == "target"
    assert found[late_target.id].working_days_late == 3
    assert found[late_respond.id].units == ("PUPR", "CAMAT-35.13.12")
    ordered = [o.complaint.id for o in workflow.overdue(session, today)]
    assert ordered == [late_verify.id, late_target.id, late_respond.id]
    assert not workflow.is_overdue(on_time, today)
    assert not workflow.is_overdue(done, today)


def test_weekend_after_a_friday_deadline_is_not_yet_late(session):
    c = filed_complaint(session)
    c.verify_due = dt.date(2026, 3, 27)  # Friday
    assert not workflow.is_overdue(c, dt.date(2026, 3, 27))
    assert not workflow.is_overdue(c, dt.date(2026, 3, 29))  # Sunday
    assert workflow.is_overdue(c, dt.date(2026, 3, 30))  # Monday
    c.verify_due = dt.date(2026, 3, 17)  # before Nyepi and Lebaran
    assert not workflow.is_overdue(c, dt.date(2026, 3, 24))  # all holidays so far
    assert workflow.working_days_late(dt.date(2026, 3, 17), dt.date(2026, 3, 25)) == 1


def test_close_quiet_after_ten_silent_working_days(session):
    quiet = disposed(session, now=at(2026, 12, 1))
    workflow.complete(session, quiet, PUPR, "Sudah ditambal", now=at(2026, 12, 10))
    replied = disposed(session, now=at(2026, 12, 1))
    workflow.complete(session, replied, PUPR, "Sudah ditambal", now=at(2026, 12, 10))
    workflow.record_citizen_reply(
        session, replied, "Kok masih ada lubang?", now=at(2026, 12, 15)
    )
    confirmed = disposed(session, now=at(2026, 12, 1))
    workflow.complete(session, confirmed, PUPR, "Sudah", now=at(2026, 12, 10))
    workflow.citizen_confirms(
        session, confirmed.ticket, REPORTER, True, now=at(2026, 12, 11)
    )
    open_one = disposed(session, now=at(2026, 12, 1))
    session.flush()

    # From Thu 10 Dec: 11, 14-18, 21-23 = 9 working days by 23 Dec.
    assert (
        workflow.close_quiet(session, dt.date(2026, 12, 23), now=at(2026, 12, 23)) == []
    )
    # 24 Dec cuti bersama, 25 Natal, weekend: the 10th is Mon 28 Dec.
    assert workflow.close_quiet(session, dt.date(2026, 12, 27)) == []
    closed = workflow.close_quiet(session, dt.date(2026, 12, 28), now=at(2026, 12, 28))
    assert [c.complaint_id for c in closed] == [quiet.id]
    assert closed[0].actor == "sistem" and "10 hari kerja" in closed[0].note
    assert closed[0].from_status == closed[0].to_status == "selesai"
    assert quiet.closed_at is not None and replied.closed_at is None
    assert open_one.status == "didisposisikan"
    # The reply on 15 Dec restarts the count: 16-18, 21-23, 28-31 Dec.
    assert workflow.close_quiet(session, dt.date(2026, 12, 30)) == []
    again = workflow.close_quiet(session, dt.date(2026, 12, 31))
    assert [c.complaint_id for c in again] == [replied.id]
    assert workflow.close_quiet(session, dt.date(2027, 2, 1)) == []  # once only
