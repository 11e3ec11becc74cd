"""whatsapp channel: transcript, status events, numbered menus

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wa_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("msg_type", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bot_text", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("media_path", sa.String(length=500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wamid"),
    )
    with op.batch_alter_table("wa_inbound", schema=None) as batch_op:
        batch_op.create_index("ix_wa_inbound_sender_id", ["sender_id"], unique=False)
        batch_op.create_index("ix_wa_inbound_state", ["state"], unique=False)

    op.create_table(
        "wa_outbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wamid"),
    )
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wa_outbound_recipient_id", ["recipient_id"], unique=False
        )
        batch_op.create_index("ix_wa_outbound_status", ["status"], unique=False)

    op.create_table(
        "wa_status_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wamid", "status", name="uq_wa_status"),
    )
    with op.batch_alter_table("wa_status_events", schema=None) as batch_op:
        batch_op.create_index("ix_wa_status_events_wamid", ["wamid"], unique=False)

    op.create_table(
        "wa_menus",
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("payloads", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender_id"),
    )


def downgrade() -> None:
    op.drop_table("wa_menus")
    with op.batch_alter_table("wa_status_events", schema=None) as batch_op:
        batch_op.drop_index("ix_wa_status_events_wamid")
    op.drop_table("wa_status_events")
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.drop_index("ix_wa_outbound_status")
        batch_op.drop_index("ix_wa_outbound_recipient_id")
    op.drop_table("wa_outbound")
    with op.batch_alter_table("wa_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_wa_inbound_state")
        batch_op.drop_index("ix_wa_inbound_sender_id")
    op.drop_table("wa_inbound")
