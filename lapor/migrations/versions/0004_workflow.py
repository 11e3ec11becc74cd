"""workflow: disposition and deadline columns, merged duplicates, complaint messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("respond_due", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("target_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_complaints_merged_into_id", ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_complaints_merged_into_id", "complaints", ["merged_into_id"], ["id"]
        )

    op.create_table(
        "complaint_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("author_role", sa.String(length=12), nullable=False),
        sa.Column("unit_code", sa.String(length=40), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("status_change_id", sa.Integer(), nullable=True),
        sa.Column("delivery", sa.String(length=12), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"]),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"]),
        sa.ForeignKeyConstraint(["status_change_id"], ["status_changes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("complaint_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_messages_complaint_id", ["complaint_id"], unique=False
        )
        batch_op.create_index("ix_complaint_messages_kind", ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("complaint_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_messages_kind")
        batch_op.drop_index("ix_complaint_messages_complaint_id")
    op.drop_table("complaint_messages")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_constraint("fk_complaints_merged_into_id", type_="foreignkey")
        batch_op.drop_index("ix_complaints_merged_into_id")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("target_date")
        batch_op.drop_column("responded_at")
        batch_op.drop_column("respond_due")
        batch_op.drop_column("disposed_at")
