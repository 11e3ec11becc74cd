"""Logins, roles, CSRF and session expiry of the console."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from console_helpers import PASSWORD, csrf_of, logged_in, login
from sqlalchemy import select

from lapor import db, handoff
from lapor.console.models import ConsoleUser

ROOT = Path(__file__).resolve().parents[2]


def test_wrong_password_is_refused(app):
    client = app.test_client()
    response = login(client, "budi", "salah-kata-sandi")
    assert response.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in response.get_data(as_text=True)
    # Not logged in: the queue sends us to the login page.
    queue = client.get("/antrean")
    assert queue.status_code == 302 and "/masuk" in queue.headers["Location"]
    # An unknown user gets the same answer.
    assert login(app.test_client(), "tidakada", PASSWORD).status_code == 401


def test_right_password_logs_in(app):
    client = app.test_client()
    response = login(client, "budi")
    assert response.status_code == 302
    assert client.get("/antrean").status_code == 200


def test_passwords_are_hashed(app):
    with db.session_scope() as s:
        row = s.scalars(select(ConsoleUser).where(ConsoleUser.username == "budi")).one()
        assert PASSWORD not in row.password_hash
        assert row.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_opd_liaison_cannot_see_queue_or_conversations(app):
    client = logged_in(app, "dinkes")
    with db.session_scope() as s:
        handoff.request_handoff(s, "6281234567890", "permintaan_warga")
    assert client.get("/antrean").status_code == 403
    assert client.get("/api/antrean").status_code == 403
    assert client.get("/percakapan/6281234567890").status_code == 403
    assert client.get("/api/percakapan/6281234567890").status_code == 403
    take = client.post(
        "/percakapan/6281234567890/ambil", headers={"X-CSRFToken": client.csrf}
    )
    assert take.status_code == 403
    with db.session_scope() as s:
        assert handoff.state_of(s, "6281234567890") == "menunggu"
    assert client.get("/aduan").status_code == 200
    assert client.get("/pengguna").status_code == 403


def test_operator_is_not_admin(app, budi):
    assert budi.get("/antrean").status_code == 200
    assert budi.get("/pengguna").status_code == 403
    assert budi.get("/opd").status_code == 403


def test_admin_creates_a_user_who_can_log_in(app):
    admin = logged_in(app, "admin")
    response = admin.post(
        "/pengguna",
        data={
            "username": "wati",
            "full_name": "Wati",
            "role": "operator",
            "password": "kata-sandi-wati",
            "csrf_token": admin.csrf,
        },
    )
    assert response.status_code == 302
    assert login(app.test_client(), "wati", "kata-sandi-wati").status_code == 302
    # A short password is refused.
    admin.post(
        "/pengguna",
        data={
            "username": "x1",
            "role": "operator",
            "password": "pendek",
            "csrf_token": admin.csrf,
        },
    )
    with db.session_scope() as s:
        assert (
            s.scalar(select(ConsoleUser.id).where(ConsoleUser.username == "x1")) is None
        )


def test_login_without_or_with_forged_csrf_token_is_refused(app):
    client = app.test_client()
    client.get("/masuk")
    missing = client.post("/masuk", data={"username": "budi", "password": PASSWORD})
    assert missing.status_code == 400
    forged = client.post(
        "/masuk",
        data={"username": "budi", "password": PASSWORD, "csrf_token": "palsu.token"},
    )
    assert forged.status_code == 400
    assert client.get("/antrean").status_code == 302  # still not logged in


def test_forged_csrf_token_on_fetch_and_form_posts(app, budi):
    with db.session_scope() as s:
        handoff.request_handoff(s, "6281234567891", "permintaan_warga")
    # A token from another session is not valid for this one.
    other = app.test_client()
    other_token = csrf_of(other.get("/masuk").get_data(as_text=True))
    for headers in ({}, {"X-CSRFToken": "palsu"}, {"X-CSRFToken": other_token}):
        response = budi.post(
            "/percakapan/6281234567891/ambil",
            headers={"X-Requested-With": "fetch", **headers},
        )
        assert response.status_code == 400, headers
    note = budi.post(
        "/percakapan/6281234567891/catatan",
        data={"text": "halo", "csrf_token": "palsu"},
    )
    assert note.status_code == 400
    with db.session_scope() as s:
        assert handoff.state_of(s, "6281234567891") == "menunggu"


def test_expired_session_goes_back_to_login(app, budi):
    assert budi.get("/antrean").status_code == 200
    minutes = app.config["SESSION_MINUTES"]
    with budi.session_transaction() as sess:
        started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes + 1)
        sess["login_at"] = started.isoformat()
    page = budi.get("/antrean")
    assert page.status_code == 302 and "/masuk" in page.headers["Location"]
    # The session is gone for good, also for the JSON endpoint.
    api = budi.get("/api/antrean")
    assert api.status_code == 401
    assert "/masuk" in api.get_json()["login"]


def test_session_still_valid_just_before_its_end(app, budi):
    minutes = app.config["SESSION_MINUTES"]
    with budi.session_transaction() as sess:
        started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes - 1)
        sess["login_at"] = started.isoformat()
    assert budi.get("/antrean").status_code == 200


def test_logout_needs_post_with_token(app, budi):
    assert budi.post("/keluar").status_code == 400
    assert budi.get("/antrean").status_code == 200
    assert budi.post("/keluar", data={"csrf_token": budi.csrf}).status_code == 302
    assert budi.get("/antrean").status_code == 302


def test_create_admin_command(db_url, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ADMIN_USERNAME": "kepala",
        "ADMIN_PASSWORD": "admin-sandi-panjang",
    }
    done = subprocess.run(
        [sys.executable, "-m", "lapor.console", "create-admin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with db.session_scope(db_url) as s:
        row = s.scalars(
            select(ConsoleUser).where(ConsoleUser.username == "kepala")
        ).one()
        assert row.role == "admin"
        assert "admin-sandi-panjang" not in row.password_hash
    # No password and no terminal: refused (no default password exists).
    env.pop("ADMIN_PASSWORD")
    env["ADMIN_USERNAME"] = "kedua"
    done = subprocess.run(
        [sys.executable, "-m", "lapor.console", "create-admin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    with db.session_scope(db_url) as s:
        assert (
            s.scalar(select(ConsoleUser.id).where(ConsoleUser.username == "kedua"))
            is None
        )


def test_secret_key_is_generated_once_with_mode_600(tmp_path, monkeypatch):
    from lapor import config
    from lapor.console import _secret_key

    monkeypatch.delenv("CONSOLE_SECRET_KEY", raising=False)
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    first = _secret_key()
    path = tmp_path / "var" / "console_secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 40 and _secret_key() == first
    monkeypatch.setenv("CONSOLE_SECRET_KEY", "from-env")
    assert _secret_key() == "from-env"


def test_opd_page_sends_liaisons_to_their_forwarded_complaints(app):
    from lapor import services

    with db.session_scope() as s:
        mine = services.file_complaint(
            s,
            services.NewComplaint(
                kategori="kesehatan",
                detail="Puskesmas tutup pada jam layanan, warga tidak dilayani.",
                reporter_id="6281234500001",
                channel="whatsapp",
                reporter_name="Nama Rahasia",
                anonymous=True,
            ),
        )
        other = services.file_complaint(
            s,
            services.NewComplaint(
                kategori="pemerintahan",
                detail="KTP belum jadi sejak tiga bulan yang lalu.",
                reporter_id="6281234500002",
                channel="whatsapp",
            ),
        )
    assert mine.opd_code == "DINKES", mine
    client = logged_in(app, "dinkes")
    answer = client.get("/opd")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/aduan")
    # Not yet verified and forwarded: the unit does not see it (workflow.can_view).
    page = client.get("/aduan").get_data(as_text=True)
    assert mine.ticket not in page and other.ticket not in page
    assert "Nama Rahasia" not in page and "6281234500001" not in page
