"""Masking personal data for display: 张伟 → 张*, 13812341234 → 138****1234.

One place for the rule, so every list, export and ticket shows people the same
way. Who may see a value unmasked is decided elsewhere (geo.people.households.reveal).
"""
from __future__ import annotations


def mask_name(name: str | None) -> str:
    """张伟 → 张*, 欧阳娜娜 → 欧***: the surname's first character stays."""
    if not name:
        return ""
    name = str(name).strip()
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13812341234 → 138****1234; anything shorter than 7 digits is hidden entirely."""
    if not phone:
        return ""
    p = str(phone).strip()
    if len(p) < 7:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]
