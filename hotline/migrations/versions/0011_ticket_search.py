"""Ticket search (issue 11): the content's character bigrams as a ``tsvector`` with a GIN index,
and the caller's phone and tickets' caller indexed for caller history and the phone filter.

``tickets.search_vector`` is written with the content (intake, ``COPY``, the ORM) from
:func:`hotline.textsearch.vector_literal`; tickets already stored are filled here in batches.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from hotline.textsearch import vector_literal

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("tickets", sa.Column("search_vector", TSVECTOR(), nullable=True))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, content FROM tickets WHERE id > :last ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text(
                "UPDATE tickets SET search_vector = CAST(v.vec AS tsvector) "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:vecs AS text[])) AS v(id, vec) WHERE tickets.id = v.id"
            ),
            {"ids": [r.id for r in rows], "vecs": [vector_literal(r.content) for r in rows]},
        )
        last = rows[-1].id
    op.create_index("ix_tickets_search_vector", "tickets", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_callers_phone", "callers", ["phone"])
    op.create_index("ix_tickets_caller_id", "tickets", ["caller_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_caller_id", table_name="tickets")
    op.drop_index("ix_callers_phone", table_name="callers")
    op.drop_index("ix_tickets_search_vector", table_name="tickets")
    op.drop_column("tickets", "search_vector")
