"""Codes and numbers a register carries: division codes, grid numbers, ID numbers, phones.

- Division codes (DOMAIN.md): 12 digits = 6 county + 3 street + 3 community. The street
  part says what kind of place it is: 001–099 街道, 100–199 镇, 200–399 乡. A street is
  written with its first 9 digits (or 12 ending in 000); a community's code starts with
  its street's.
- A grid's code is its community's 12 digits + a grid number of 2 or 3 digits (local rule).
- 公民身份号码 (GB 11643-1999): 17 digits + a check character (ISO 7064 MOD 11-2), the
  8 digits from the 7th a real birth date; the 17th digit is odd for men. 15-digit numbers
  are from before 1999 and no longer valid.
- Phones: a mainland mobile (1[3-9] + 9 digits) or a landline with area code (0 + 2–3 digits,
  7–8 digits, a hyphen allowed).

Functions return None when a value is fine, else the i18n key of what is wrong, so the
checks can count and word them.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date

STREET_KINDS = ((1, 99, "street"), (100, 199, "town"), (200, 399, "township"))
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def clean(value: object, *, upper: bool = False) -> str:
    """A code or number as text: full-width characters made plain, spaces and Excel's ".0" and
    leading apostrophe dropped; ``upper`` for ID numbers (a lower-case "x" check digit)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip().lstrip("'").replace(" ", "")
    if re.fullmatch(r"\d+\.0", text):
        text = text[:-2]
    return text.upper() if upper else text


def street_code(code: str) -> str | None:
    """What is wrong with a street's code (9 digits, or 12 ending in 000), else None."""
    if not re.fullmatch(r"\d{9}(000)?", code):
        return "code_street_form"
    return None if street_kind(code) else "code_street_part"


def street_kind(code: str) -> str | None:
    """street / town / township from digits 7–9, None outside the published ranges."""
    part = int(code[6:9]) if len(code) >= 9 and code[6:9].isdigit() else 0
    return next((kind for lo, hi, kind in STREET_KINDS if lo <= part <= hi), None)


def community_code(code: str, street: str | None = None) -> str | None:
    """What is wrong with a community's 12-digit code (and its street prefix), else None."""
    if not re.fullmatch(r"\d{12}", code):
        return "code_community_form"
    if code.endswith("000"):
        return "code_community_zero"
    if street and not code.startswith(street[:9]):
        return "code_community_street"
    return None


def grid_code(code: str, community: str | None = None) -> str | None:
    """What is wrong with a grid's code: its community's 12 digits + 2 or 3 digits."""
    if not re.fullmatch(r"\d{14,15}", code):
        return "code_grid_form"
    if community and not code.startswith(community):
        return "code_grid_community"
    return None


def community_of_grid(code: str) -> str:
    return code[:12]


def id_number(value: str) -> str | None:
    """What is wrong with a 公民身份号码, else None (blank: None; a register may lack it)."""
    if not value:
        return None
    if re.fullmatch(r"\d{15}", value):
        return "id_old"
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return "id_form"
    if birth_date(value) is None:
        return "id_birth"
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS))
    return None if ID_CHECK[total % 11] == value[17] else "id_check"


def id_check_char(first17: str) -> str:
    """The check character of 17 digits (for building test data and for the message)."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def birth_date(value: str) -> date | None:
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    return born if date(1890, 1, 1) <= born <= date.today() else None


def gender_of(value: str) -> str | None:
    """M / F from an 18-digit ID number (its 17th digit), None when it has none."""
    return ("M" if int(value[16]) % 2 else "F") if re.fullmatch(r"\d{17}[\dX]", value or "") else None


def phone(value: str) -> str | None:
    """What is wrong with a phone number (mobile or landline with area code), else None."""
    if not value:
        return None
    digits = value.replace(" ", "").replace("+86", "")
    return None if MOBILE.match(digits) or LANDLINE.match(digits) else "phone_form"
