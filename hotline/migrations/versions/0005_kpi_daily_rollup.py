"""KPI daily and monthly rollup (kpi_daily, kpi_monthly), dirty-day marks and the triggers that write them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00

The triggers only *mark* local days whose counts may have changed (one short INSERT per statement
into an append-only table); the refresh (hotline.kpi_rollup) recomputes those days from the base
tables. Nothing fires on INSERT into tickets, deadlines or ticket_returns: those rows are written
for "now" (a ticket received today, a return requested today, a limit due in the future), and the
refresh always recomputes every day from its previous run up to today. Intake stays untouched.
A bulk loader that rebuilds the rollup afterwards (``demo generate``) turns the marks off for its
own connections with the setting ``hotline.kpi_marks = off``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = (
    "intake",
    "merged",
    "repeat",
    "accepted_intake",
    "direct",
    "dispatched",
    "reminded",
    "redone",
    "returned",
    "overdue",
    "accepted",
    "accepted_on_time",
    "evaluated",
    "satisfied",
    "resolved",
    "partly_resolved",
    "unreachable",
    "due",
    "replied_on_time",
    "returns",
    "decided_returns",
    "improper_returns",
)

# A ticket's dimensions: when one changes (reclassified, merged), its deadlines' and returns' days
# are counted under new keys too.
TICKET_DIMS = "merged_into_id, kind, category, channel, line, caller_type, area_district, area_town"

FUNCTIONS = [
    """
    CREATE FUNCTION kpi_day(ts timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date $$
    """,
    f"""
    CREATE FUNCTION kpi_mark_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('hotline.kpi_marks', true) = 'off' THEN  -- a bulk load that rebuilds afterwards
            RETURN NULL;
        END IF;
        IF TG_OP = 'DELETE' THEN
            INSERT INTO kpi_dirty_days (day) SELECT DISTINCT kpi_day(o.created_at) FROM old_rows o;
            RETURN NULL;
        END IF;
        INSERT INTO kpi_dirty_days (day)
        SELECT kpi_day(n.created_at) FROM new_rows n
        UNION
        SELECT kpi_day(o.created_at) FROM old_rows o
        UNION
        SELECT d.due_date
          FROM new_rows n JOIN old_rows o ON o.id = n.id
          JOIN deadlines d ON d.ticket_id = n.id AND d.kind = 'reply'
         WHERE ROW({", ".join("n." + c.strip() for c in TICKET_DIMS.split(","))})
               IS DISTINCT FROM ROW({", ".join("o." + c.strip() for c in TICKET_DIMS.split(","))})
        UNION
        SELECT kpi_day(r.requested_at)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
          JOIN ticket_returns r ON r.ticket_id = n.id
         WHERE ROW({", ".join("n." + c.strip() for c in TICKET_DIMS.split(","))})
               IS DISTINCT FROM ROW({", ".join("o." + c.strip() for c in TICKET_DIMS.split(","))});
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION kpi_mark_deadlines() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('hotline.kpi_marks', true) = 'off' THEN  -- a bulk load that rebuilds afterwards
            RETURN NULL;
        END IF;
        IF TG_OP = 'DELETE' THEN
            INSERT INTO kpi_dirty_days (day)
            SELECT DISTINCT o.due_date FROM old_rows o WHERE o.kind = 'reply';
            RETURN NULL;
        END IF;
        -- reply limits count on their due day; a sign-for limit counts on its ticket's intake day
        INSERT INTO kpi_dirty_days (day)
        SELECT n.due_date FROM new_rows n WHERE n.kind = 'reply'
        UNION
        SELECT o.due_date FROM old_rows o WHERE o.kind = 'reply'
        UNION
        SELECT kpi_day(t.created_at) FROM new_rows n JOIN tickets t ON t.id = n.ticket_id WHERE n.kind = 'accept';
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION kpi_mark_returns() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('hotline.kpi_marks', true) = 'off' THEN  -- a bulk load that rebuilds afterwards
            RETURN NULL;
        END IF;
        IF TG_OP = 'DELETE' THEN
            INSERT INTO kpi_dirty_days (day) SELECT DISTINCT kpi_day(o.requested_at) FROM old_rows o;
            RETURN NULL;
        END IF;
        INSERT INTO kpi_dirty_days (day)
        SELECT kpi_day(n.requested_at) FROM new_rows n
        UNION
        SELECT kpi_day(o.requested_at) FROM old_rows o;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION kpi_mark_ticket_children() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('hotline.kpi_marks', true) = 'off' THEN  -- a bulk load that rebuilds afterwards
            RETURN NULL;
        END IF;
        -- an evaluation (问题解决率) counts on its ticket's intake day; a reply (及时办结率) on the
        -- due days of the ticket's reply limits
        INSERT INTO kpi_dirty_days (day)
        SELECT kpi_day(t.created_at) FROM new_rows n JOIN tickets t ON t.id = n.ticket_id
        UNION
        SELECT d.due_date FROM new_rows n JOIN deadlines d ON d.ticket_id = n.ticket_id AND d.kind = 'reply';
        RETURN NULL;
    END $$
    """,
]

TRIGGERS = [
    ("tickets", "UPDATE", "kpi_mark_tickets", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("tickets", "DELETE", "kpi_mark_tickets", "OLD TABLE AS old_rows"),
    ("deadlines", "UPDATE", "kpi_mark_deadlines", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("deadlines", "DELETE", "kpi_mark_deadlines", "OLD TABLE AS old_rows"),
    ("ticket_returns", "UPDATE", "kpi_mark_returns", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("ticket_returns", "DELETE", "kpi_mark_returns", "OLD TABLE AS old_rows"),
    ("evaluations", "INSERT", "kpi_mark_ticket_children", "NEW TABLE AS new_rows"),
    ("replies", "INSERT", "kpi_mark_ticket_children", "NEW TABLE AS new_rows"),
]


def _trigger_name(table: str, event: str) -> str:
    return f"kpi_mark_{table}_{event.lower()}"


def upgrade() -> None:
    # 及时办结率 counts reply limits by their due date (a limit ending at 24:00 on the 31st belongs
    # to that month), so the period index is on due_date now.
    op.drop_index("ix_deadlines_kind_due", table_name="deadlines")
    op.create_index("ix_deadlines_kind_due_date", "deadlines", ["kind", "due_date"], unique=False)
    op.create_table(
        "kpi_daily",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("key1", sa.String(length=64), nullable=True),
        sa.Column("key2", sa.String(length=64), nullable=True),
        *(sa.Column(m, sa.Integer(), server_default=sa.text("0"), nullable=False) for m in MEASURES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_daily")),
    )
    op.create_index("ix_kpi_daily_scope_day", "kpi_daily", ["scope", "day"], unique=False)
    op.create_index("ix_kpi_daily_day", "kpi_daily", ["day"], unique=False)
    op.create_index(
        "ix_kpi_daily_city",
        "kpi_daily",
        ["day", "dim", "key1", "key2"],
        unique=False,
        postgresql_include=list(MEASURES),
        postgresql_where=sa.text("scope = ''"),
    )
    op.create_table(
        "kpi_monthly",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("key1", sa.String(length=64), nullable=True),
        sa.Column("key2", sa.String(length=64), nullable=True),
        *(sa.Column(m, sa.Integer(), server_default=sa.text("0"), nullable=False) for m in MEASURES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_monthly")),
    )
    op.create_index("ix_kpi_monthly_scope_month", "kpi_monthly", ["scope", "month"], unique=False)
    op.create_table(
        "kpi_dirty_days",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_dirty_days")),
    )
    op.create_table(
        "kpi_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_kpi_rollup_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_rollup_state")),
    )
    for sql in FUNCTIONS:
        op.execute(sql)
    for table, event, function, referencing in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {_trigger_name(table, event)} AFTER {event} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    for table, event, _function, _referencing in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)} ON {table}")
    for name in ("kpi_mark_ticket_children", "kpi_mark_returns", "kpi_mark_deadlines", "kpi_mark_tickets", "kpi_day"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
    op.drop_table("kpi_rollup_state")
    op.drop_table("kpi_dirty_days")
    op.drop_index("ix_kpi_monthly_scope_month", table_name="kpi_monthly")
    op.drop_table("kpi_monthly")
    op.drop_index("ix_kpi_daily_city", table_name="kpi_daily", postgresql_where=sa.text("scope = ''"))
    op.drop_index("ix_kpi_daily_day", table_name="kpi_daily")
    op.drop_index("ix_kpi_daily_scope_day", table_name="kpi_daily")
    op.drop_table("kpi_daily")
    op.drop_index("ix_deadlines_kind_due_date", table_name="deadlines")
    op.create_index("ix_deadlines_kind_due", "deadlines", ["kind", "due_at"], unique=False)
