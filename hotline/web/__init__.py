"""Server-rendered Jinja2 pages (agents, units, supervisors, public). Never imports ``hotline.api``."""
