"""The monthly report as a printable A4 PDF in Chinese, with the Chinese font embedded.

reportlab writes it: it embeds (subsets) a TrueType font, so the PDF prints the same on a
machine without Chinese fonts, and draws its own charts (reportlab.graphics), so no plotting
library is needed. reportlab cannot embed fonts with PostScript (CFF) outlines, which is what
Noto Sans CJK ships as; ``cjk_font`` therefore tries SHEQU_CJK_FONT, the fonts the QR sheets try
(geo.intake.qr) and the TrueType CJK fonts of Debian/Windows, and keeps the first one reportlab
can embed. With none, it falls back to reportlab's built-in STSong-Light, which a PDF reader
supplies (not embedded); a font must also hold digits and Latin
letters (``NEEDED``). ``Printed.embedded`` says which happened, and the page tells the user.

Every text a person wrote (notes, reasons) is escaped before it reaches a Paragraph, whose
mini-language would otherwise read ``<`` as markup.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import shapely
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from geo import settings
from geo.intake import qr
from geo.reports.monthly import SHORT, Report
from geo.tickets import indicators

log = logging.getLogger(__name__)

#: More TrueType CJK fonts reportlab can embed (Debian fonts-arphic-uming, Windows), after qr's list (whose
#: WenQuanYi fonts are TrueType; Debian's fonts-wqy-microhei is what .ci/run installs for this).
TRUETYPE_CANDIDATES = ("/usr/share/fonts/truetype/arphic/uming.ttc", "C:/Windows/Fonts/simhei.ttf",
                       "C:/Windows/Fonts/simsun.ttc")
#: A font must draw both: Droid Sans Fallback, say, has Chinese but no digits (figures would print blank).
NEEDED = "0123456789%中街"
FONT = "ReportCJK"
FALLBACK = "STSong-Light"
WIDTH = A4[0] - 30 * mm
LOW, MID, HIGH = colors.HexColor("#d73027"), colors.HexColor("#fee08b"), colors.HexColor("#1a9850")


@dataclass(frozen=True)
class Printed:
    data: bytes
    font: str  # the file embedded, or FALLBACK
    embedded: bool


@cache
def cjk_font() -> tuple[str, str, bool]:
    """(font name, file, embedded): the first CJK font reportlab can embed, else the reader-supplied fallback."""
    for path in ([settings.CJK_FONT] if settings.CJK_FONT else []) + [*qr.FONT_CANDIDATES, *TRUETYPE_CANDIDATES]:
        try:
            font = TTFont(FONT, path, subfontIndex=0)
        except (TTFError, OSError) as exc:  # missing, or PostScript outlines reportlab cannot embed
            log.debug("CJK font %s not usable for the PDF: %s", path, exc)
            continue
        if all(ord(c) in font.face.charToGlyph for c in NEEDED):
            pdfmetrics.registerFont(font)
            return FONT, path, True
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
    log.warning("no embeddable CJK font found; the monthly PDF uses %s (not embedded)", FALLBACK)
    return FALLBACK, FALLBACK, False


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    return {"body": base,
            "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=TA_CENTER),
            "h": ParagraphStyle("h", parent=base, fontSize=13, leading=18, spaceBefore=8, spaceAfter=4),
            "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5),
            "note": ParagraphStyle("note", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#555555"))}


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def _table(df: pd.DataFrame, st: dict, *, widths: list[float] | None = None, wrap: tuple[str, ...] = ()) -> Table:
    """A boxed table; columns in ``wrap`` (people's text) as escaped, wrapping paragraphs."""
    head = [Paragraph(escape(str(c)), st["cell"]) for c in df.columns]
    rows = [[Paragraph(escape(_text(v)), st["cell"]) if c in wrap or len(_text(v)) > 14 else _text(v)
             for c, v in zip(df.columns, row)] for row in df.itertuples(index=False)]
    t = Table([head, *rows], colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), st["cell"].fontName, 7.5),
                           ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                           ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                           ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")])]))
    return t


def _short(df: pd.DataFrame) -> pd.DataFrame:
    """The by-area table with the columns a page has room for (Excel keeps them all)."""
    keep = [df.columns[0], *(indicators.label(k) + ("(%)" if k in indicators.RATES else "") for k in SHORT)]
    return df[[c for c in keep if c in df.columns]]


def _bars(values: pd.Series, font: str, *, title: str, unit: str = "") -> Drawing:
    """A horizontal bar chart of ``values`` (index: names), largest on top."""
    values = values.dropna()
    n = max(len(values), 1)
    height = 40 + 14 * n
    d = Drawing(WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 110, 10, WIDTH - 150, height - 35
    chart.data = [list(values.to_numpy()[::-1]) or [0]]
    chart.categoryAxis.categoryNames = [str(k) for k in values.index[::-1]] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#4361ee")
    chart.barLabelFormat = "%.0f" + unit.replace("%", "%%")
    chart.barLabels.fontName = font
    chart.barLabels.fontSize = 6.5
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    d.add(chart)
    d.add(String(0, height - 12, title, fontName=font, fontSize=9))
    return d


def _ramp(value: float) -> colors.Color:
    if value is None or np.isnan(value):
        return colors.HexColor("#dddddd")
    v = float(np.clip(value, 0, 1))
    return colors.linearlyInterpolatedColor(LOW, MID, 0, 0.5, v) if v < 0.5 else \
        colors.linearlyInterpolatedColor(MID, HIGH, 0.5, 1, v)


def grid_map(grids, font: str, *, height: float = 110 * mm) -> Drawing:
    """The area's grids coloured by their on-time rate this month (grey: no case due), with a legend."""
    d = Drawing(WIDTH, height)
    if grids is None or grids.empty:
        d.add(String(0, height / 2, "无网格边界数据", fontName=font, fontSize=10))
        return d
    minx, miny, maxx, maxy = grids.total_bounds
    k = np.cos(np.radians((miny + maxy) / 2))  # degrees of longitude are shorter: keep the shapes true
    scale = min((WIDTH - 20) / max((maxx - minx) * k, 1e-9), (height - 40) / max(maxy - miny, 1e-9))
    for geom, rate, name in zip(grids.geometry, grids["on_time_rate"], grids["name"]):
        for poly in getattr(geom, "geoms", [geom]):
            xy = shapely.get_coordinates(poly.exterior)
            pts = np.c_[(xy[:, 0] - minx) * k * scale + 10, (xy[:, 1] - miny) * scale + 30].ravel().tolist()
            d.add(Polygon(pts, fillColor=_ramp(rate), strokeColor=colors.white, strokeWidth=0.6))
        c = geom.representative_point()
        d.add(String((c.x - minx) * k * scale + 10, (c.y - miny) * scale + 30, str(name)[-4:], fontName=font,
                     fontSize=5.5, textAnchor="middle", fillColor=colors.HexColor("#333333")))
    for i, (label, v) in enumerate([("按期结案率 0%", 0.0), ("50%", 0.5), ("100%", 1.0), ("无应结案", np.nan)]):
        d.add(Rect(10 + i * 95, 6, 12, 10, fillColor=_ramp(v), strokeColor=colors.grey, strokeWidth=0.3))
        d.add(String(26 + i * 95, 8, label, fontName=font, fontSize=7))
    return d


def _footer(title: str, font: str):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawString(15 * mm, 8 * mm, title)
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()
    return draw


def _section(story: list, st: dict, title: str, table: pd.DataFrame, *, empty: str = "本月无。", **kw) -> None:
    story.append(Paragraph(escape(title), st["h"]))
    story.append(_table(table, st, **kw) if len(table) else Paragraph(empty, st["body"]))


def pdf_bytes(report: Report) -> Printed:
    """The report as an A4 PDF (cover figures, charts, the map, every table; long lists cut, Excel has all)."""
    font, path, embedded = cjk_font()
    st = _styles(font)
    t = report.tables
    v = report.values
    story: list = [Paragraph(escape(report.title), st["title"]), Spacer(1, 4),
                   Paragraph(escape(f"统计区域：{report.area}　统计月份：{report.month:%Y年%m月}　"
                                    f"生成时间：{report.made_at:%Y-%m-%d %H:%M}"), st["note"]),
                   Paragraph("口径：本月上报的工单（GB/T 30428、12345热线考核口径）；应结案以月末为准，"
                             "当前超期以生成时为准。各项定义见 Excel 版“党员30分钟到场”等表及系统“工单指标”页。", st["note"]),
                   Paragraph("一、核心指标（本月、上月、去年同月）", st["h"]),
                   _table(t["指标对比"], st, widths=[WIDTH * w for w in (.24, .13, .13, .14, .13, .23)])]
    story.append(Paragraph(escape(
        f"本月上报 {indicators.shown('reported', v['reported'])} 件，按期结案率 "
        f"{indicators.shown('on_time_rate', v['on_time_rate'])}，满意率 "
        f"{indicators.shown('satisfaction_rate', v['satisfaction_rate'])}，党员30分钟到场率 "
        f"{indicators.shown('arrival_rate', v['arrival_rate'])}。"), st["body"]))
    reported = indicators.label("reported")
    cats = t["按类别"].set_index(t["按类别"].columns[0])[reported]
    story += [Spacer(1, 6), _bars(cats, font, title="按类别上报数（件）")]
    story += [PageBreak(), Paragraph("二、网格按期结案率地图", st["h"]), grid_map(report.grid_map, font),
              Paragraph("颜色为本月上报工单的按期结案率（按期结案数 / 应结案数），灰色为本月无应结案的网格。", st["note"])]
    rate_col = indicators.label("on_time_rate") + "(%)"
    if "按社区" in t:
        by_c = t["按社区"].set_index(t["按社区"].columns[0])[rate_col]
        story += [Spacer(1, 6), _bars(by_c, font, title="各社区按期结案率（%）", unit="%")]
        _section(story, st, "三、按社区（按期结案率由低到高）", _short(t["按社区"]))
    _section(story, st, "四、按网格（按期结案率由低到高）", _short(t["按网格"]))
    _section(story, st, "五、按类别", _short(t["按类别"]))
    _section(story, st, "六、按来源", _short(t["按来源"]))
    wide = dict(widths=[WIDTH * w for w in (.17, .1, .13, .1, .1, .1, .3)], wrap=("原因", "重办原因"))
    _section(story, st, f"七、超期工单（应结案未按期结案，{len(t['超期工单'])} 件）", t["超期工单"], **wide)
    _section(story, st, f"八、重办工单（{len(t['重办工单'])} 件）", t["重办工单"],
             widths=[WIDTH * w for w in (.16, .09, .12, .09, .09, .09, .07, .29)], wrap=("重办原因",))
    _section(story, st, "九、党员30分钟到场", t["党员30分钟到场"], widths=[WIDTH * w for w in (.2, .12, .68)],
             wrap=("定义",))
    _section(story, st, "十、困难户走访（走访覆盖率由低到高）", t["困难户走访"])
    c = report.circle
    story.append(Paragraph("十一、15分钟服务圈缺口", st["h"]))
    story.append(Paragraph(escape(
        f"区域内 {c.get('circle_residents', 0):,} 人在全部必需设施的标准服务半径内，占 "
        f"{c.get('circle_share', float('nan')):.1%}"
        f"（{'步行，与指挥大屏同一口径' if c.get('circle_method') == 'walking' else '直线距离，偏乐观：未能建立步行路网'}）；"
        "宽口径（步行15分钟约"
        f"{c.get('circle_reach_m', 0):,.0f}米）占 {c.get('circle_loose_share', float('nan')):.1%}。"
        "下表为覆盖率最低的15个网格（全部网格见 Excel）。"), st["body"]))
    story.append(_table(t["15分钟服务圈缺口"].head(15), st))
    _section(story, st, "十二、本月预警", t["本月预警"], wrap=tuple(t["本月预警"].columns))
    if not embedded:
        story.append(Paragraph("注：本机未找到可嵌入的中文字体，本文件使用阅读器自带的宋体显示。", st["note"]))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                            bottomMargin=14 * mm, title=report.title, author="社区治理一张图")
    footer = _footer(report.title, font)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return Printed(buf.getvalue(), path, embedded)
