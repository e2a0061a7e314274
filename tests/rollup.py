"""Tests that commit for real (other processes, the command line) leave the KPI rollup as they
found it: unbuilt, so that the savepoint tests that follow read the base tables unless they
refresh the rollup themselves."""

KPI_ROLLUP_TABLES = ("kpi_rollup_state", "kpi_daily", "kpi_monthly", "kpi_dirty_days")
FORGET_KPI_ROLLUP = tuple(f"DELETE FROM {table}" for table in KPI_ROLLUP_TABLES)
"""Statements, one each (a prepared statement holds a single command)."""
