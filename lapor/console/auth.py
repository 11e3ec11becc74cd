"""Logins, sessions, roles and the users page (admins only)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from lapor import db
from lapor.console.models import ROLE_LABELS, ROLES, ConsoleUser
from lapor.models import as_utc, utcnow

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
# Compared against when the username is unknown, so both cases cost the same.
_DUMMY_HASH = generate_password_hash("lapor-kand4-dummy-password")
_SEEN_EVERY = dt.timedelta(minutes=1)

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
login_manager = LoginManager()


@dataclass
class User(UserMixin):
    """The logged-in console user (a detached copy of the row)."""

    id: int
    username: str
    full_name: str | None
    role: str
    opd_code: str | None
    active: bool

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def display_name(self) -> str:
        """The name shown to citizens and colleagues."""
        return self.full_name or self.username

    @property
    def role_label(self) -> str:
        """The role in Indonesian."""
        return ROLE_LABELS.get(self.role, self.role)

    @classmethod
    def from_row(cls, row: ConsoleUser) -> User:
        return cls(
            row.id, row.username, row.full_name, row.role, row.opd_code, row.active
        )


def hash_password(password: str) -> str:
    """werkzeug's salted hash (scrypt)."""
    return generate_password_hash(password)


def create_user(
    username: str,
    password: str,
    role: str = "operator",
    full_name: str | None = None,
    opd_code: str | None = None,
) -> int:
    """Store a new user; raises ValueError on a bad role, short password or taken name."""
    username = username.strip().lower()
    if (
        not username
        or len(username) > 80
        or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        raise ValueError(
            "Nama pengguna hanya boleh berisi huruf, angka, titik, - dan _."
        )
    if role not in ROLES:
        raise ValueError("Peran tidak dikenal.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.")
    if role == "opd" and not (opd_code or "").strip():
        raise ValueError("Penghubung OPD memerlukan kode unit (OPD/camat).")
    with db.session_scope() as s:
        exists = s.scalar(
            select(ConsoleUser.id).where(ConsoleUser.username == username)
        )
        if exists:
            raise ValueError("Nama pengguna sudah dipakai.")
        row = ConsoleUser(
            username=username,
            full_name=(full_name or "").strip() or None,
            password_hash=hash_password(password),
            role=role,
            opd_code=(opd_code or "").strip() or None,
            active=True,
            created_at=utcnow(),
        )
        s.add(row)
        s.flush()
        return row.id


def authenticate(username: str, password: str) -> User | None:
    """The user when the password matches an active account, else None."""
    username = (username or "").strip().lower()
    with db.session_scope() as s:
        row = s.scalars(
            select(ConsoleUser).where(ConsoleUser.username == username)
        ).first()
        if row is None:
            check_password_hash(_DUMMY_HASH, password or "")
            return None
        if not check_password_hash(row.password_hash, password or "") or not row.active:
            return None
        row.last_login_at = utcnow()
        return User.from_row(row)


def roles_required(*roles: str) -> Callable:
    """Refuse (403) users whose role is not one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.headers.get("X-Requested-With") == "fetch"
    )


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        ident = int(user_id)
    except ValueError:
        return None
    with db.session_scope() as s:
        row = s.get(ConsoleUser, ident)
        if row is None or not row.active:
            return None
        now = utcnow()
        seen = as_utc(row.last_seen_at)
        if seen is None or now - seen > _SEEN_EVERY:
            row.last_seen_at = now
        return User.from_row(row)


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if _wants_json():
        return jsonify(
            error="Sesi berakhir. Silakan masuk lagi.", login=url_for("auth.login")
        ), 401
    flash("Silakan masuk terlebih dahulu.", "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _check_session_age() -> Any:
    """Log out a session older than the configured lifetime."""
    if not current_user.is_authenticated:
        return None
    started = session.get("login_at")
    limit = dt.timedelta(minutes=current_app.config["SESSION_MINUTES"])
    try:
        started_at = dt.datetime.fromisoformat(started) if started else None
    except ValueError:
        started_at = None
    if started_at is not None and utcnow() - started_at < limit:
        return None
    logout_user()
    session.clear()
    if _wants_json():
        return jsonify(
            error="Sesi berakhir. Silakan masuk lagi.", login=url_for("auth.login")
        ), 401
    flash("Sesi Anda telah berakhir. Silakan masuk lagi.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/masuk", methods=["GET", "POST"])
def login() -> Any:
    """The login page."""
    if current_user.is_authenticated:
        return redirect(url_for("views.home"))
    error = None
    if request.method == "POST":
        user = authenticate(
            request.form.get("username", ""), request.form.get("password", "")
        )
        if user is None:
            logger.info("console login failed")
            error = "Nama pengguna atau kata sandi salah."
        else:
            session.clear()
            session.permanent = True
            login_user(user, remember=False)
            session["login_at"] = utcnow().isoformat()
            logger.info("console login role=%s", user.role)
            return redirect(
                _safe_next(request.args.get("next")) or url_for("views.home")
            )
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/keluar", methods=["POST"])
def logout() -> Any:
    """Log out (POST, with the CSRF token)."""
    logout_user()
    session.clear()
    flash("Anda telah keluar.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/pengguna", methods=["GET", "POST"])
@roles_required("admin")
def users() -> Any:
    """List users; create one (admins)."""
    if request.method == "POST":
        form = request.form
        try:
            create_user(
                form.get("username", ""),
                form.get("password", ""),
                role=form.get("role", "operator"),
                full_name=form.get("full_name"),
                opd_code=form.get("opd_code"),
            )
            flash("Pengguna baru telah dibuat.", "ok")
            return redirect(url_for("auth.users"))
        except ValueError as exc:
            flash(str(exc), "error")
    with db.session_scope() as s:
        rows = s.scalars(select(ConsoleUser).order_by(ConsoleUser.username)).all()
        listing = [
            {
                "id": r.id,
                "username": r.username,
                "full_name": r.full_name,
                "role": r.role,
                "opd_code": r.opd_code,
                "active": r.active,
                "last_seen_at": r.last_seen_at,
            }
            for r in rows
        ]
    return render_template(
        "users.html", users=listing, roles=ROLES, role_labels=ROLE_LABELS
    )


@bp.route("/pengguna/<int:user_id>", methods=["POST"])
@roles_required("admin")
def update_user(user_id: int) -> Any:
    """Change a user's role, unit, active flag or password (admins)."""
    form = request.form
    with db.session_scope() as s:
        row = s.get(ConsoleUser, user_id)
        if row is None:
            abort(404)
        role = form.get("role", row.role)
        if role not in ROLES:
            flash("Peran tidak dikenal.", "error")
            return redirect(url_for("auth.users"))
        if row.id == current_user.id and (role != "admin" or form.get("active") == "0"):
            flash("Anda tidak dapat mencabut akses admin akun Anda sendiri.", "error")
            return redirect(url_for("auth.users"))
        opd_code = (form.get("opd_code") or "").strip() or None
        if role == "opd" and not opd_code:
            flash("Penghubung OPD memerlukan kode unit (OPD/camat).", "error")
            return redirect(url_for("auth.users"))
        row.role = role
        row.opd_code = opd_code
        if "active" in form:
            row.active = form.get("active") == "1"
        password = form.get("password") or ""
        if password:
            if len(password) < MIN_PASSWORD_LENGTH:
                flash(f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.", "error")
                return redirect(url_for("auth.users"))
            row.password_hash = hash_password(password)
    flash("Perubahan disimpan.", "ok")
    return redirect(url_for("auth.users"))


def _csrf_error(exc: CSRFError) -> Any:
    logger.info("CSRF refused: %s", exc.description)
    if _wants_json():
        return jsonify(error="Token keamanan tidak valid. Muat ulang halaman."), 400
    return (
        render_template(
            "error.html",
            title="Permintaan ditolak",
            message="Token keamanan formulir tidak valid atau kedaluwarsa. "
            "Muat ulang halaman lalu coba lagi.",
        ),
        400,
    )


def init_app(app: Flask) -> None:
    """Wire CSRF, Flask-Login and the auth views into ``app``."""
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)
    app.before_request(_check_session_age)
    app.register_error_handler(CSRFError, _csrf_error)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_user": current_user, "role_labels": ROLE_LABELS}
