"""operator console: users, internal notes, canned replies, conversation events

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:30:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_REPLIES = [
    (
        "Salam pembuka",
        "Selamat datang di Lapor Kand4. Ada yang bisa kami bantu, Bapak/Ibu?",
    ),
    (
        "Mohon tunggu",
        "Mohon ditunggu sebentar, Bapak/Ibu. Kami sedang memeriksa informasinya.",
    ),
    (
        "Minta lokasi",
        (
            "Mohon kirimkan lokasi kejadian (nama desa dan kecamatan), atau "
            "bagikan lokasi melalui WhatsApp, Bapak/Ibu."
        ),
    ),
    (
        "Minta foto",
        (
            "Jika berkenan, mohon kirimkan foto kondisi di lapangan agar dapat "
            "kami teruskan ke unit terkait."
        ),
    ),
    (
        "Laporan dicatat",
        (
            "Terima kasih, laporan Bapak/Ibu sudah kami catat dan akan kami "
            "teruskan ke unit terkait."
        ),
    ),
    (
        "Darurat 112",
        "Untuk keadaan darurat, mohon segera hubungi 112 (gratis, 24 jam).",
    ),
]


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("opd_code", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.create_index("ix_console_users_username", ["username"], unique=True)

    op.create_table(
        "console_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_notes", schema=None) as batch_op:
        batch_op.create_index("ix_console_notes_sender_id", ["sender_id"], unique=False)

    replies = op.create_table(
        "console_canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "console_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_console_events_sender_id", ["sender_id"], unique=False
        )

    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(
        replies,
        [
            {"title": title, "text": text, "active": True, "created_at": now}
            for title, text in DEFAULT_REPLIES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("console_events", schema=None) as batch_op:
        batch_op.drop_index("ix_console_events_sender_id")
    op.drop_table("console_events")
    op.drop_table("console_canned_replies")
    with op.batch_alter_table("console_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_console_notes_sender_id")
    op.drop_table("console_notes")
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_index("ix_console_users_username")
    op.drop_table("console_users")
