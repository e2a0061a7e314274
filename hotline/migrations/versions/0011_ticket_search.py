"""Ticket search (issue 11): a full-text index of the content by Chinese character bigrams, and the
caller's phone indexed for caller history and the phone filter.

``search_bigrams(text)`` turns a text into its overlapping two-character tokens, lower-cased, with
punctuation and spaces as breaks (小区停水了 → 小区 区停 停水 水了), the bigram tokenizer that
search engines use for Chinese (Lucene's CJK analyzer): every word of two or more characters is
found wherever it stands, without a dictionary that could cut the text and the query differently.
A search phrase becomes the bigrams of each of its words in sequence (``phraseto_tsquery``), so a
match is an exact substring. ``tickets.search_vector`` is generated from the content by
PostgreSQL itself (also for rows written by ``COPY``), indexed with GIN.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_BIGRAMS = r"""
CREATE OR REPLACE FUNCTION search_bigrams(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(string_agg(substr(x, i, 2), ' ' ORDER BY i), '')
    FROM (SELECT lower(regexp_replace(t, '[[:punct:][:space:]]+', ' ', 'g')) AS x) AS s,
         generate_series(1, length(x) - 1) AS i
    WHERE substr(x, i, 2) !~ ' '
$$
"""


def upgrade() -> None:
    op.execute(SEARCH_BIGRAMS)
    op.execute(
        "ALTER TABLE tickets ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_bigrams(content))) STORED"
    )
    op.execute("CREATE INDEX ix_tickets_search_vector ON tickets USING gin (search_vector)")
    op.execute("CREATE INDEX ix_callers_phone ON callers (phone)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_callers_phone")
    op.execute("DROP INDEX ix_tickets_search_vector")
    op.execute("ALTER TABLE tickets DROP COLUMN search_vector")
    op.execute("DROP FUNCTION search_bigrams(text)")
