"""Thin Celery shell: app config, beat schedule, per-process runtime, tasks calling hotline services."""
