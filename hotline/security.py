"""Passwords (argon2) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(secret: str, user_id: int, role: str, now: datetime, ttl_minutes: int, generation: int = 0) -> str:
    """A signed token (HS256) for ``user_id``, valid ``ttl_minutes`` from ``now`` (UTC) and while
    the user's ``session_generation`` is still ``generation`` (logout increments it)."""
    payload = {
        "sub": str(user_id),
        "role": role,
        "gen": generation,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None
    return data
