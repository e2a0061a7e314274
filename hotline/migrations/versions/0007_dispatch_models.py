"""Dispatch classifier: stored models, training labels, model version on routing decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("routing_decisions", sa.Column("model_version", sa.String(length=64), nullable=True))
    op.create_table(
        "dispatch_models",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("rulebook_version", sa.String(length=64), nullable=False),
        sa.Column("catalogue_digest", sa.String(length=64), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('current','previous','candidate','retired')", name=op.f("ck_dispatch_models_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_models")),
        sa.UniqueConstraint("version", name=op.f("uq_dispatch_models_version")),
    )
    op.create_index(
        "uq_dispatch_models_one_current",
        "dispatch_models",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'current'"),
    )
    op.create_index(
        "uq_dispatch_models_one_previous",
        "dispatch_models",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'previous'"),
    )
    op.create_table(
        "dispatch_labels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("dataset", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('import','intake','centre','return')", name=op.f("ck_dispatch_labels_source")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_dispatch_labels_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_labels")),
    )
    op.create_index("uq_dispatch_labels_ticket_source", "dispatch_labels", ["ticket_id", "source"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_dispatch_labels_ticket_source", table_name="dispatch_labels")
    op.drop_table("dispatch_labels")
    op.drop_index("uq_dispatch_models_one_previous", table_name="dispatch_models")
    op.drop_index("uq_dispatch_models_one_current", table_name="dispatch_models")
    op.drop_table("dispatch_models")
    op.drop_column("routing_decisions", "model_version")
