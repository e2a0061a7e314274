"""Masking of personal data where it is not needed (实施方案第19条：依法保护个人隐私)."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.replace("-", "")
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:] if len(digits) > 7 else "***" + digits[-4:]
    return "*" * len(digits)


def mask_credit_code(code: str | None) -> str | None:
    if not code:
        return code
    return code[:4] + "*" * (len(code) - 8) + code[-4:]
