"""A file's columns matched to ours, and the last mapping a street used remembered.

Offices name columns their own way (编码, 社区代码, 楼栋编号 …). ``guess`` matches each of
our fields to the file column whose normalised name equals one of the field's aliases
(geo.load.fields), exact names first, then names that contain an alias; a person confirms
or changes the result on the page (or in a JSON mapping file for ``python -m geo.load``).
Whatever was used last for a street and layer is stored (``load_mapping``), so next year's
reload of the same office's files starts from it.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, inspect, select

from geo.db.schema import LoadMapping
from geo.load.fields import LAYERS

#: Layer names in a file (a GeoPackage layer, a Shapefile or sheet name) that tell its content.
LAYER_WORDS: dict[str, tuple[str, ...]] = {
    "street": ("街道", "乡镇", "street", "town"), "community": ("社区", "村居", "community"),
    "grid": ("网格", "grid"), "building": ("楼栋", "建筑", "房屋", "building", "bldg"),
    "register": ("名册", "住户", "人口", "户籍", "register", "resident", "household"),
    "facility": ("设施", "服务", "poi", "facilit", "amenit"), "camera": ("监控", "摄像", "camera", "video"),
    "road": ("道路", "路网", "road", "street_line", "highway", "walk"),
}
_GEOMETRY_LAYERS = {"polygon": ("street", "community", "grid", "building"), "point": ("facility", "camera", "building"),
                    "line": ("road",), None: ("register", "facility", "camera", "building")}


def norm(name: object) -> str:
    """A column name compared without case, width, spaces, brackets or units."""
    text = unicodedata.normalize("NFKC", str(name)).lower()
    return re.sub(r"[\s_\-()（）\[\]【】:：/]|\(.*?\)", "", text)


def guess(columns: Sequence[str], layer: str) -> dict[str, str]:
    """Our field → the file's column, for the fields some column evidently holds."""
    spec, taken, out = LAYERS[layer], set(), {}
    normal = {c: norm(c) for c in columns}
    for exact in (True, False):
        for field in spec.fields:
            if field.key in out:
                continue
            for alias in map(norm, field.aliases):
                hit = next((c for c, n in normal.items() if c not in taken and (
                    n == alias if exact else (len(alias) >= 2 and alias in n))), None)
                if hit is not None:
                    out[field.key], _ = hit, taken.add(hit)
                    break
    return out


def guess_layer(name: str, columns: Sequence[str], geometry: str | None) -> str | None:
    """Which of our layers a file's layer most likely holds: its name first, then its columns."""
    kind = {"Polygon": "polygon", "MultiPolygon": "polygon", "Point": "point", "MultiPoint": "point",
            "LineString": "line", "MultiLineString": "line"}.get(
        re.sub(r"^3D |\s*(Z|M|ZM|25D)$", "", geometry or ""), None if geometry is None else "?")
    allowed = _GEOMETRY_LAYERS.get(kind, ())
    text = norm(name)
    for layer, words in LAYER_WORDS.items():
        if layer in allowed and any(norm(w) in text for w in words):
            return layer
    scores = {layer: len(guess(columns, layer)) for layer in allowed}
    best = max(scores, key=scores.get, default=None)
    return best if best and scores[best] >= 2 else None


def check(mapping: Mapping[str, str], columns: Sequence[str], layer: str) -> list[str]:
    """Our required fields the mapping leaves out, and columns it names that the file lacks."""
    spec = LAYERS[layer]
    missing = [f.key for f in spec.fields if f.required and not mapping.get(f.key)]
    absent = [c for c in mapping.values() if c and c not in columns]
    return missing + absent


# --------------------------------------------------------------------------- remembered

def remembered(engine: Engine, street_code: str, layer: str) -> dict[str, str] | None:
    """The mapping this street used last for ``layer``, or None."""
    if not street_code or not inspect(engine).has_table("load_mapping"):
        return None
    with engine.connect() as conn:
        raw = conn.execute(select(LoadMapping.columns).where(
            LoadMapping.street_code == street_code, LoadMapping.layer == layer)).scalar()
    return json.loads(raw) if raw else None


def remember(conn: Connection, street_code: str, layer: str, mapping: Mapping[str, str], *,
             at: datetime, by: str) -> None:
    """Store ``mapping`` as the street's last one for ``layer`` (in the caller's transaction)."""
    table = LoadMapping.__table__
    conn.execute(delete(table).where(table.c.street_code == street_code, table.c.layer == layer))
    conn.execute(insert(table), [{"street_code": street_code, "layer": layer, "updated_at": at, "updated_by": by[:64],
                                  "columns": json.dumps({k: v for k, v in mapping.items() if v}, ensure_ascii=False)}])
