"""Public progress lookup attempts per client and minute (rate limit shared by all processes)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "public_lookup_hits",
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_key", "bucket", name=op.f("pk_public_lookup_hits")),
    )


def downgrade() -> None:
    op.drop_table("public_lookup_hits")
