"""recovery: who claimed an inbound message, when an outbound one was taken,
and the message that filed a complaint

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wa_inbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sa.String(length=120), nullable=True)
        )
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_message_id", sa.String(length=255), nullable=True)
        )
        batch_op.create_index(
            "ix_complaints_source_message_id", ["source_message_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_source_message_id")
        batch_op.drop_column("source_message_id")
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
    with op.batch_alter_table("wa_inbound", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
