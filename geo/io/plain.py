"""User text shown as plain text: the one place that makes any text safe for where it is shown.

Every free text is hostile (a ticket description, a resident's or a facility's name, an
uploaded file's name, a code read from a file, an error message that quotes any of them).
It reaches two kinds of sink, and each needs its own escaping:

- **Markdown** — ``st.markdown``, ``st.caption``, ``st.write``, ``st.title`` / ``st.subheader``,
  ``st.error`` / ``st.warning`` / ``st.info`` / ``st.success`` / ``st.toast``, the labels of
  expanders, tabs, buttons and metrics, metric *values* and radio options (selectbox and
  multiselect options and dataframe cells are plain text). Streamlit renders GitHub-flavoured
  Markdown there: ``![x](http://host/t.png)`` makes every viewer's browser fetch an image from
  any host (a tracking pixel on an intranet), ``[点我](http://evil)`` is a phishing link, a bare
  ``http://…`` becomes a link, ``:red[…]`` colours and ``$…$`` typesets. :func:`markdown`
  backslash-escapes every ASCII punctuation character, which CommonMark shows literally, so
  the text reads exactly as typed and nothing in it is markup.
- **HTML** — folium popups, tooltips and labels, ``st.html``. :func:`html` escapes
  ``& < > " '`` and also `` ` $ \\``: folium puts popup and tooltip HTML inside JavaScript
  template literals, where a backtick ends the string and ``${…}`` runs code.
  :func:`html_columns` does the same to the properties of a GeoJSON layer whose
  popup or tooltip shows them (folium writes those into the page with innerHTML).

pydeck tooltips given as ``{"text": "{n}"}`` are put on screen with ``innerText`` by deck.gl
(Streamlit escapes the ``html`` form too): they need no escaping, and escaping them would show
``&lt;`` on the wall. Keep them in the ``text`` form (geo.screen.screen_map).
"""
from __future__ import annotations

import html as _html
import re
from typing import Any

import pandas as pd

_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_LEADING_BLANKS = re.compile(r"(?m)^[ \t]+")
#: GFM turns "http://…", "www.…" and "a@b.cn" into links *after* escapes are resolved, so
#: escaping cannot stop it; an invisible WORD JOINER (U+2060) inside the trigger does.
_AUTOLINK = re.compile(r"(\\:)(?=\\/\\/)|(?<![^\W_])(www)(?=\\\.)|(\\@)", re.IGNORECASE)
_JOINER = "\u2060"


def markdown(text: Any) -> str:
    """``text`` as Markdown that renders as exactly that text: no image, link, heading, list or colour.

    Line breaks stay line breaks, and blanks at the start of a line stay blanks (not a code block).
    A URL or e-mail address in it is shown but not made a link (an invisible word joiner sits in
    its ``://``, ``www.`` or ``@``). A long free text that needs no surrounding markup is better
    shown with ``st.text``, which parses nothing at all.
    """
    if text is None:
        return ""
    out = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    out = _AUTOLINK.sub(lambda m: m.group() + _JOINER, out)
    out = _LEADING_BLANKS.sub(lambda m: "\u00a0" * len(m.group().expandtabs(4)), out)
    return out.replace("\n", "  \n")


def html(text: Any) -> str:
    """``text`` for an HTML sink (also inside a JavaScript template literal): shown literally, never markup."""
    if text is None:
        return ""
    return (_html.escape(str(text), quote=True)
            .replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;"))


def html_columns(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose text values in ``columns`` (default: all) are :func:`html`-escaped."""
    out = frame.copy()
    for col in columns if columns is not None else list(out.columns):
        if col in out.columns and (pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col])):
            out[col] = out[col].map(lambda v: html(v) if isinstance(v, str) else v)
    return out


__all__ = ["markdown", "html", "html_columns"]
