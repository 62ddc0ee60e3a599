"""``python -m geo.load``: the same loader as the page, for scripts (a yearly reload).

    python -m geo.load check 街道数据.gpkg 楼栋.zip 住户名册.xlsx [--report 检查.xlsx]
    python -m geo.load apply 街道数据.gpkg 楼栋.zip 住户名册.xlsx --user admin [--replace-demo] [--sync]
    python -m geo.load check-stored [--report 检查.xlsx]
    python -m geo.load export --format gpkg|geojson|shapefile|xlsx --output street.gpkg

Each layer of each file is matched to ours by its name and columns (the street's remembered
mapping first); ``--mapping FILE.json`` sets it by hand: a list of
``{"file": "…", "layer": "…", "target": "grid", "columns": {"code": "网格编码"}, "coords": "gcj02"}``.
Exit status: 0 done, 1 refused (the report says why), 2 a file could not be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geo import settings
from geo.db import migrate, store
from geo.errors import ValidationError
from geo.load import apply as applying, bundle, checks, export, mapping, plan, sources, stored


def _parts(files: list[str], engine, mapping_file: str | None) -> list[bundle.Part]:
    srcs = [sources.from_path(f) for f in files]
    guessed = bundle.guess_parts(srcs, remembered=lambda layer: None)
    if not mapping_file:
        return guessed
    given = json.loads(Path(mapping_file).read_text(encoding="utf-8"))
    by_name = {s.name: s for s in srcs}
    out = [p for p in guessed if not any(g["file"] == p.source.name and g.get("layer") in (None, p.layer)
                                         for g in given)]
    for g in given:
        if g.get("target") in (None, "skip"):
            continue
        out.append(bundle.Part(by_name[g["file"]], g["target"], g.get("columns") or {}, g.get("layer"),
                               g.get("coords", "auto")))
    return out


def _print_findings(found) -> None:
    for f in found:
        where = f.point
        at = f" @ {where[0]:.6f},{where[1]:.6f}" if where else ""
        print(f"[{f.severity}] {f.message('zh')}{at}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geo.load", description="街道数据导入、检查与导出 / a street's data in and out")
    parser.add_argument("action", choices=["check", "apply", "check-stored", "export"])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or data/shequ.db)")
    parser.add_argument("--mapping", help="JSON file: which layer holds what, and its columns")
    parser.add_argument("--report", help="write the check report to this .xlsx")
    parser.add_argument("--user", help="apply: who loads (recorded in the audit log)")
    parser.add_argument("--sync", action="store_true", help="remove stored rows the files no longer hold")
    parser.add_argument("--replace-demo", action="store_true", help="replace the demo town with this street")
    parser.add_argument("--street-name", help="the street's name when no street layer is loaded")
    parser.add_argument("--format", choices=export.FORMATS, default="gpkg")
    parser.add_argument("--output", help="export: the file to write")
    args = parser.parse_args(argv)
    url = args.url or settings.database_url()
    engine = store.make_engine(url)
    if args.action == "export":
        Path(args.output or f"street.{args.format}").write_bytes(export.export(engine, args.format))
        return 0
    if args.action == "check-stored":
        frames = stored.read(engine)
        checks.locate(_with_doors(frames))
        found = checks.run(frames)
        _print_findings(found)
        if args.report:
            Path(args.report).write_bytes(checks.excel(found))
        return 1 if checks.errors(found) else 0
    try:
        parts = _parts(args.files, engine, args.mapping)
        for p in parts:
            print(f"{p.source.name} [{p.layer or '-'}] → {p.target}: {p.mapping}")
            missing = mapping.check(p.mapping, list(p.mapping.values()), p.target)
            if missing:
                print(f"  缺少必填字段 / required fields not mapped: {', '.join(missing)}")
        ref = stored.read(engine, register=False)["street"] if migrate.kind(engine) else None
        made = bundle.prepare(parts, reference=ref)
        the_plan = plan.make(engine, made, sync=args.sync, street_name=args.street_name)
    except ValidationError as exc:
        print(getattr(exc, "message", lambda lang="zh": str(exc))("zh"), file=sys.stderr)
        return 2
    print(the_plan.summary().to_string())
    _print_findings(the_plan.findings)
    if args.report:
        Path(args.report).write_bytes(checks.excel(the_plan.findings))
    if args.action == "check":
        return 0 if the_plan.ok else 1
    if not args.user:
        parser.error("apply needs --user NAME (recorded in the audit log)")
    try:
        done = applying.apply(engine, the_plan, username=args.user, now=settings.now(),
                              replace_demo=args.replace_demo)
    except applying.LoadRefused as exc:
        print(exc.message("zh"), file=sys.stderr)
        return 1
    print(f"已导入 / loaded: {done}")
    return 0


def _with_doors(frames):
    b = frames["building"]
    b["door_lon"], b["door_lat"] = b["entrance_lon"], b["entrance_lat"]
    return frames


if __name__ == "__main__":
    raise SystemExit(main())
