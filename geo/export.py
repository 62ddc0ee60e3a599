"""Tables out of the dashboard: CSV (UTF-8 with BOM, so Excel shows Chinese) and Excel.

Kept apart from the analysis code (as geopandas keeps io apart): callers hand
over a DataFrame, or several as named sheets, and get bytes to download.
"""
from __future__ import annotations

import io

import pandas as pd


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Drop geometry and make times naive so every writer takes the frame."""
    out = pd.DataFrame(df).drop(columns=[c for c in ("geometry", "geom") if c in df.columns])
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV with a byte-order mark: Excel on Windows opens Chinese text correctly."""
    return _plain(df).to_csv(index=False).encode("utf-8-sig")


def excel_bytes(sheets: dict[str, pd.DataFrame] | pd.DataFrame) -> bytes:
    """An .xlsx workbook, one sheet per entry (sheet names cut to Excel's 31 characters)."""
    if isinstance(sheets, pd.DataFrame):
        sheets = {"Sheet1": sheets}
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in sheets.items():
            _plain(df).to_excel(writer, sheet_name=name[:31], index=False)
    return buf.getvalue()
