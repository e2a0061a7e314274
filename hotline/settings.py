"""One settings object for the whole application (``HOTLINE_`` environment variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "embedded-default-placeholder-not-a-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    database_url: str | None = None
    """asyncpg URL (``postgresql+asyncpg://...``). Unset: an embedded PostgreSQL under ``var_dir``."""
    redis_url: str | None = None
    """Celery broker/result backend. Unset: sweeps run in-process (embedded default)."""
    var_dir: Path = Path("var")
    secret_key: str = PLACEHOLDER_SECRET
    token_ttl_minutes: int = Field(default=12 * 60, ge=1)
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    """How long a verified token is trusted without re-reading the user (deactivation delay)."""
    dispatch_model_check_seconds: float = Field(default=10.0, ge=0, le=3600)
    """How often a process checks whether another promoted or rolled back the dispatch model."""
    sweep_seconds: float | None = Field(default=None, gt=0)
    """Override of the rulebook's sweep interval (tests and operations)."""
    sweep_batch: int | None = Field(default=None, ge=1)
    """Override of the rulebook's sweep batch size."""
    embedded_scheduler: bool = True
    """Without Redis, run the SLA sweep and notification delivery inside the API process."""
    rulebook_dir: Path | None = None
    """A rulebook directory other than the shipped ``routing_rules/data``."""
    db_pool_size: int = Field(default=10, ge=1)
    cookie_secure: bool | None = None
    """The session cookie's ``Secure`` flag; unset: on when the request came over HTTPS."""
    trusted_proxies: str = ""
    """Comma-separated addresses of the reverse proxies whose ``X-Forwarded-For`` is believed
    (empty, the default: none, the socket's peer is the client). Rate limits count per client,
    so a forwarded header from anyone else would let a client be anyone."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body accepted (bytes); a larger one is refused with 413 before parsing."""
    sql_echo: bool = False

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if not self.embedded and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError("HOTLINE_SECRET_KEY 必须设置：连接外部数据库时不能使用内置的占位密钥")
        if len(self.secret_key) < 32:
            raise ValueError("HOTLINE_SECRET_KEY 至少32个字符")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
