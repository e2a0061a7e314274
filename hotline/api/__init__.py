"""JSON API routers. Never imports ``hotline.web``."""
