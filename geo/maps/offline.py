"""Serve folium's browser assets from the app itself, so maps work with no internet.

folium points every map at CDNs (jsdelivr, cdnjs, code.jquery.com). A street
office intranet reaches none of them, and a government dashboard should not
tell outside hosts who is looking at which map. The same files ship in the
XStatic Python packages; ``install_vendor_assets`` copies them into
``static/vendor/`` (served by Streamlit at ``/app/static/vendor/``) and
``localise`` rewrites a map's asset links to those local copies.

No Streamlit import here: the core stays usable from scripts and tests.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import branca.colormap
import folium
import folium.elements
import folium.plugins
from branca.element import CssLink, Element, JavascriptLink

from geo import settings
from geo.errors import ValidationError

#: URL under which Streamlit serves ``static/vendor`` (static serving is on in
#: .streamlit/config.toml). Root-relative, so it also resolves inside the
#: st_folium component iframe, which is served from the same origin. A
#: deployment under ``server.baseUrlPath`` must prefix it.
VENDOR_URL: str = "/app/static/vendor"


@dataclass(frozen=True)
class Asset:
    """One file a map needs: the XStatic package it comes from and where it goes."""

    package: str  # module under xstatic.pkg
    source: str  # path inside the package's BASE_DIR
    target: str  # path under static/vendor

    @property
    def url(self) -> str:
        return f"{VENDOR_URL}/{self.target}"


def _a(package: str, source: str, lib: str) -> Asset:
    return Asset(package, source, f"{lib}/{source}")


#: folium asset name (first element of each default_js/default_css tuple) →
#: local copy. Leaflet 1.9.3 and jQuery 3.7.1 are the versions folium 0.20
#: asks for; Bootstrap is 4.5 instead of 5.2 (folium's popups and controls
#: use none of it); MarkerCluster 1.4.1 instead of 1.1.0 (same API).
ASSETS: dict[str, Asset] = {
    "leaflet": _a("leaflet", "leaflet.js", "leaflet"),
    "leaflet_css": _a("leaflet", "leaflet.css", "leaflet"),
    "jquery": _a("jquery", "jquery.min.js", "jquery"),
    "bootstrap": _a("bootstrap", "js/bootstrap.bundle.min.js", "bootstrap"),
    "bootstrap_css": _a("bootstrap", "css/bootstrap.min.css", "bootstrap"),
    "awesome_markers_font_css": _a("font_awesome", "css/all.min.css", "font-awesome"),
    "markerclusterjs": _a("leaflet_markercluster", "leaflet.markercluster.js",
                          "leaflet-markercluster"),
    "markerclustercss": _a("leaflet_markercluster", "MarkerCluster.css",
                           "leaflet-markercluster"),
    "markerclusterdefaultcss": _a("leaflet_markercluster", "MarkerCluster.Default.css",
                                  "leaflet-markercluster"),
}

#: Assets with no local copy that our maps can do without: they serve only
#: folium.Icon (awesome-markers) and Bootstrap 3 glyphs. Our markers are
#: CircleMarker and DivIcon, so the links are dropped rather than fetched.
DROPPABLE: frozenset[str] = frozenset(
    {"awesome_markers", "awesome_markers_css", "awesome_rotate_css", "glyphicons_css"})

#: Whole directories copied beside the files above, because the CSS refers to
#: them relatively: Leaflet's images/ (layers.png, marker icons) and Font
#: Awesome's ../webfonts/.
DIRECTORIES: tuple[Asset, ...] = (
    _a("leaflet", "images", "leaflet"),
    _a("font_awesome", "webfonts", "font-awesome"),
)

#: Source maps named at the end of the minified files; copied when present so
#: an open browser console shows no 404.
_SOURCE_MAP = re.compile(rb"[#@] sourceMappingURL=([\w.\-]+\.map)")


def _package_dir(package: str) -> Path:
    """BASE_DIR of an installed XStatic package (a clear error if it is missing)."""
    try:
        module = __import__(f"xstatic.pkg.{package}", fromlist=["BASE_DIR"])
    except ImportError as exc:
        raise ValidationError(
            f"XStatic package xstatic.pkg.{package} is not installed; "
            f"pip install -r requirements.txt") from exc
    return Path(module.BASE_DIR)


def _files(asset: Asset) -> Iterator[tuple[Path, str]]:
    """(source file, target path) pairs of one asset, a directory expanded."""
    src = _package_dir(asset.package) / asset.source
    if src.is_dir():
        for f in sorted(src.rglob("*")):
            if f.is_file():
                yield f, f"{asset.target}/{f.relative_to(src).as_posix()}"
        return
    if not src.is_file():
        raise ValidationError(f"{src} missing from xstatic.pkg.{asset.package}")
    yield src, asset.target
    match = _SOURCE_MAP.search(src.read_bytes()[-300:])
    if match and (src.parent / match.group(1).decode()).is_file():
        name = match.group(1).decode()
        yield src.parent / name, f"{asset.target.rsplit('/', 1)[0]}/{name}"


def _up_to_date(src: Path, dst: Path) -> bool:
    """Same size and mtime as the source (copies keep the source mtime)."""
    try:
        s, d = src.stat(), dst.stat()
    except FileNotFoundError:
        return False
    return s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime)


def _copy_atomic(src: Path, dst: Path) -> None:
    """Write to a temporary file beside ``dst``, then rename over it.

    A rename is atomic, so a browser (or a second Streamlit session copying
    at the same moment) sees either the old file or the whole new one.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(src.read_bytes())
        st = src.stat()
        os.utime(tmp, (st.st_atime, st.st_mtime))
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_vendor_assets(static_dir: Path = settings.ROOT / "static") -> Path:
    """Copy the map assets into ``static_dir/vendor``; return that folder.

    Idempotent and cheap when already done (a stat per file), safe to call on
    every app start and from concurrent sessions.
    """
    vendor = Path(static_dir) / "vendor"
    seen: set[str] = set()
    for asset in (*ASSETS.values(), *DIRECTORIES):
        for src, target in _files(asset):
            if target in seen:
                continue
            seen.add(target)
            dst = vendor / target
            if not _up_to_date(src, dst):
                _copy_atomic(src, dst)
    return vendor


def local_files(static_dir: Path = settings.ROOT / "static") -> dict[str, Path]:
    """Local URL → file on disk, for every asset link ``localise`` may write."""
    return {a.url: Path(static_dir) / "vendor" / a.target for a in ASSETS.values()}


def _walk(element: Element) -> Iterator[Element]:
    """Every element below (and including) ``element``, as st_folium walks them."""
    yield element
    if isinstance(element, folium.plugins.DualMap):
        yield from _walk(element.m1)
        yield from _walk(element.m2)
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def _local_links(links: list[tuple[str, str]], owner: Element) -> list[tuple[str, str]]:
    """``links`` with each CDN URL swapped for its local copy (droppables removed)."""
    out: list[tuple[str, str]] = []
    for name, url in links:
        if name in ASSETS:
            out.append((name, ASSETS[name].url))
        elif name in DROPPABLE:
            continue
        elif _is_remote(url):
            raise ValidationError(
                f"{type(owner).__name__} needs asset {name!r} ({url}), which has no "
                f"local copy; add it to geo.maps.offline.ASSETS or do not use that element")
        else:
            out.append((name, url))
    return out


def _purge_header(m: folium.Map) -> None:
    """Remove CDN links a render before ``localise`` already put in the header."""
    header = m.get_root().header
    for key, child in list(header._children.items()):
        url = getattr(child, "url", "")
        if isinstance(child, (JavascriptLink, CssLink)) and _is_remote(url):
            del header._children[key]


def localise(m: folium.Map) -> folium.Map:
    """Point every asset link of ``m`` at ``/app/static/vendor`` (in place; returns ``m``).

    Sets per-instance ``default_js``/``default_css`` on each element, which is
    what both folium's render and st_folium's link collection read. Raises
    ValidationError for an asset with no local copy instead of silently
    falling back to a CDN, and for folium.Icon, whose awesome-markers files
    are not shipped.
    """
    for el in _walk(m):
        if isinstance(el, branca.colormap.ColorMap):
            raise ValidationError(
                "a branca colormap makes st_folium load d3 from a CDN; "
                "draw the legend as HTML instead")
        if isinstance(el, folium.Icon):
            raise ValidationError(
                "folium.Icon needs Leaflet.awesome-markers, which is not served "
                "locally; draw the marker with DivIcon or CircleMarker")
        if isinstance(el, folium.elements.JSCSSMixin):
            el.default_js = _local_links(list(el.default_js), el)
            el.default_css = _local_links(list(el.default_css), el)
    _purge_header(m)
    return m


def collected_links(m: folium.Map) -> tuple[list[str], list[str]]:
    """(js, css) URLs as st_folium collects them, for checks and tests."""
    js: list[str] = []
    css: list[str] = []
    for el in _walk(m):
        if isinstance(el, folium.elements.JSCSSMixin):
            js.extend(url for _, url in el.default_js)
            css.extend(url for _, url in el.default_css)
    return list(dict.fromkeys(js)), list(dict.fromkeys(css))
