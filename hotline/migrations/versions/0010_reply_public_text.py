"""replies.public_text: the redacted, reviewed text a reply is published with (after 答复审核)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("public_text", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("replies", "public_text")
