"""personal_data_access.reason: why a unit handler opened a caller's contact details

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("personal_data_access", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("personal_data_access", "reason")
