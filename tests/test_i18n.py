"""The interface strings: one entry per key, every key a page asks for exists, Chinese first."""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from geo import i18n

ROOT = Path(__file__).resolve().parent.parent
#: t("…") / common.t("…") / i18n.t("…") with a whole literal key (not t("prefix." + part)).
CALL = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']\s*[,)]""")


def test_no_key_is_written_twice():
    """A dict literal keeps the last of two equal keys silently: a merge can hide a label."""
    tree = ast.parse((ROOT / "geo" / "i18n.py").read_text(encoding="utf-8"))
    table = next(n.value for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)
                 and getattr(n.target, "id", "") == "STRINGS")
    keys = Counter(k.value for k in table.keys)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_literal_key_used_in_code_exists():
    missing = set()
    for path in [*ROOT.glob("geo/*.py"), *ROOT.glob("pages/*.py"), ROOT / "app.py"]:
        for key in CALL.findall(path.read_text(encoding="utf-8")):
            if key not in i18n.STRINGS:
                missing.add(f"{path.relative_to(ROOT)}: {key}")
    assert sorted(missing) == []


def test_every_entry_has_chinese_and_unknown_keys_never_crash():
    assert all(entry.get("zh") for entry in i18n.STRINGS.values())
    assert i18n.t("app.title") == "社区治理一张图"
    assert i18n.t("app.title", "en") == "Community Governance Map"
    assert i18n.t("no.such.key", "en") == "no.such.key"
