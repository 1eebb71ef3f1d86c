"""Print maps: the grid division map (网格划分区域图) as PNG or PDF, A4 or A3.

A page holds a title, the map (grids coloured so that neighbours differ, or by
deviation from the target; grid codes; buildings, streets and extra layers), a legend
with a table of the grids (code, households, grid worker and phone when the grids have
``worker`` / ``phone`` columns: what a notice board shows), a scale bar with the scale
ratio, a north arrow pointing to true north, and the data attribution. Drawn with
matplotlib (no pyplot, no global state) and without a basemap, so it needs no network.

Chinese text needs a CJK font: see :mod:`gridgeo.render._fonts`.

Examples
--------
>>> import gridgeo
>>> from gridgeo.render import print_map
>>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("beijing_wangjing"))
>>> plan = gridgeo.partition(layers.streets, layers.buildings, target=300)
>>> fig = print_map(plan.grids, buildings=plan.buildings, target=300, paper="A4")
>>> sorted(round(float(v) * 25.4) for v in fig.get_size_inches())  # millimetres
[210, 297]
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pyproj

from .._errors import GridgeoError, InputError
from .._validate import LINEAR, POLYGONAL
from ..crs import metric_crs
from ._fonts import font_families, has_bold, has_cjk
from ._labels import check_lang, label
from ._layers import Overlay, overlay_layer, prepare_grids, prepare_overlays
from ._printpage import ORIENTATIONS, PAPER_SIZES, PageContext, draw_page

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PAPER_SIZES", "print_map", "save_print_map"]

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - installed with gridgeo
        msg = "print maps need matplotlib: pip install matplotlib"
        raise GridgeoError(msg) from exc


@contextlib.contextmanager
def _no_glyph_warnings() -> Iterator[None]:
    """Silence matplotlib's one-warning-per-glyph when there is no CJK font (logged once)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        yield


def _metric(gdf: gpd.GeoDataFrame | None, crs: pyproj.CRS) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    return gdf if gdf.crs.equals(crs) else gdf.to_crs(crs)


def _page_crs(grids: gpd.GeoDataFrame) -> pyproj.CRS:
    """The grids' CRS when it is projected in metres, else the metric CRS gridgeo picks."""
    crs = pyproj.CRS(grids.crs)
    units = {ax.unit_name for ax in crs.axis_info[:2]}
    if crs.is_projected and units <= {"metre", "meter"}:
        return crs
    return metric_crs(grids)


def _check_page_args(paper: str, orientation: str, dpi: float) -> str:
    key = str(paper).upper()
    if key not in PAPER_SIZES:
        msg = f"paper must be one of {', '.join(PAPER_SIZES)}, got {paper!r}"
        raise InputError(msg)
    if orientation not in ORIENTATIONS:
        msg = f"orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}"
        raise InputError(msg)
    if not isinstance(dpi, int | float) or isinstance(dpi, bool) or not 30 <= dpi <= 1200:
        msg = f"dpi must be a number between 30 and 1200, got {dpi!r}"
        raise InputError(msg)
    return key


def _context(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    overlays: Mapping[str, Any] | None = None,
    target: float | None = None,
    lang: str = "en",
    color_by: str = "neighbours",
    title: str | None = None,
    attribution: str | None = OSM_ATTRIBUTION,
    labels: bool | str = True,
    table: bool = True,
) -> PageContext:
    _require_matplotlib()
    lang = check_lang(lang)
    if title is not None and not isinstance(title, str):
        msg = f"title must be a string, got {type(title).__name__}"
        raise InputError(msg)
    data = prepare_grids(grids, target=target, color_by=color_by)
    label_column = "grid_id" if labels is True else (labels or None)
    if label_column is not None and label_column not in data.gdf.columns:
        msg = f"labels={labels!r}: grids have no column {labels!r}"
        raise InputError(msg)
    crs = _page_crs(data.gdf)
    bld = overlay_layer(buildings, "buildings", POLYGONAL) if buildings is not None else None
    st = overlay_layer(streets, "streets", LINEAR) if streets is not None else None
    prepared = prepare_overlays(overlays)
    for ov in prepared:
        ov.gdf = _metric(ov.gdf, crs)
    title_text = title or label("print_title", lang)
    strings = [title_text, label("title", lang)]
    for col in ("grid_id", "worker", "community_id"):
        if col in data.gdf.columns:
            strings.extend(str(v) for v in data.gdf[col].dropna())
    strings.extend(ov.name for ov in prepared)
    fonts = font_families(any(has_cjk(s) for s in strings))
    return PageContext(
        data=data,
        grids=_metric(data.gdf, crs),
        buildings=_metric(bld, crs),
        streets=_metric(st, crs),
        overlays=prepared,
        lang=lang,
        title=title_text,
        attribution=attribution,
        fonts=fonts,
        bold_ok=has_bold(fonts[0]),
        crs=crs,
        label_column=label_column,
        table=bool(table),
    )


def _subtitle(ctx: PageContext, community: Any | None) -> str:
    parts = []
    if ctx.title != label("print_title", ctx.lang):
        parts.append(label("print_title", ctx.lang))
    if community is not None:
        parts.append(f"{label('community_page', ctx.lang)} {community}")
    return " · ".join(parts) if parts else label("title", ctx.lang)


def _focus(ctx: PageContext, community: Any | None) -> np.ndarray:
    if community is None:
        return np.ones(len(ctx.grids), dtype=bool)
    if "community_id" not in ctx.grids.columns:
        msg = "community= needs a community_id column in the grids"
        raise InputError(msg)
    focus = (ctx.grids["community_id"] == community).to_numpy()
    if not focus.any():
        known = sorted(map(str, ctx.grids["community_id"].unique()))[:10]
        msg = f"no grid has community_id {community!r}; known: {', '.join(known)}"
        raise InputError(msg)
    return focus


def _communities(ctx: PageContext) -> list[Any]:
    if "community_id" not in ctx.grids.columns:
        msg = "per_community needs a community_id column in the grids (one page per community)"
        raise InputError(msg)
    values = ctx.grids["community_id"].dropna().unique().tolist()
    return sorted(values, key=lambda v: (str(type(v)), v))


def _safe(value: Any) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(value)) or "community"


def print_map(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
    overlays: Mapping[str, gpd.GeoDataFrame | Overlay] | None = None,
    target: float | None = None,
    lang: str = "en",
    color_by: str = "neighbours",
    title: str | None = None,
    paper: str = "A4",
    orientation: str = "auto",
    community: Any | None = None,
    labels: bool | str = True,
    table: bool = True,
    attribution: str | None = OSM_ATTRIBUTION,
    dpi: float = 200,
) -> Figure:
    """One page of the grid division map (网格划分区域图) as a matplotlib figure.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids as for :func:`gridgeo.render.grid_map` (``grid_id``, ``households``;
        optional ``community_id``, ``buildings``, ``area_m2``, ``deviation``,
        ``worker``, ``phone``). Drawn in their CRS when it is projected in metres,
        else in the metric CRS gridgeo picks (CGCS2000 zone in China, UTM elsewhere).
    buildings, streets : GeoDataFrame, optional
        Drawn in grey under the grid boundaries.
    overlays : dict of {str: GeoDataFrame or Overlay}, optional
        Extra layers by name (street-front zones, audit findings …), listed in the legend.
    target : float, optional
        Target households per grid (legend; needed for ``color_by="deviation"`` unless
        the grids have a ``deviation`` column).
    lang : {"en", "zh"}, default "en"
        Language of the page's text.
    color_by : {"neighbours", "deviation"}, default "neighbours"
        As for :func:`~gridgeo.render.grid_map`.
    title : str, optional
        Page title; default "Grid division map" / "网格划分区域图".
    paper : {"A4", "A3"}, default "A4"
        Paper size.
    orientation : {"auto", "portrait", "landscape"}, default "auto"
        "auto" takes the orientation that prints the map at the larger scale.
    community : optional
        A ``community_id``: only that community's grids are drawn in colour, labelled,
        listed and framed; the others are grey.
    labels : bool or str, default True
        Label grids with ``grid_id`` (or the named column); False for none.
    table : bool, default True
        List the grids (colour, code, households, grid worker, phone) beside the map.
    attribution : str or None, default "© OpenStreetMap contributors"
        Data credit printed in the footer.
    dpi : float, default 200
        Resolution of raster output (PNG).

    Returns
    -------
    matplotlib.figure.Figure
        Sized to the paper; save it with ``fig.savefig(path)``.

    Raises
    ------
    InputError
        Unknown ``paper``, ``orientation``, ``lang``, ``color_by`` or ``community``, and
        the layer errors of :func:`~gridgeo.render.grid_map`.
    """
    paper = _check_page_args(paper, orientation, dpi)
    ctx = _context(
        grids,
        buildings=buildings,
        streets=streets,
        overlays=overlays,
        target=target,
        lang=lang,
        color_by=color_by,
        title=title,
        attribution=attribution,
        labels=labels,
        table=table,
    )
    return draw_page(
        ctx,
        focus=_focus(ctx, community),
        subtitle=_subtitle(ctx, community),
        paper=paper,
        orientation=orientation,
        dpi=dpi,
    )


def save_print_map(
    grids: gpd.GeoDataFrame,
    path: str | PathLike[str],
    *,
    per_community: bool = False,
    paper: str = "A4",
    orientation: str = "auto",
    dpi: float = 200,
    **kwargs: Any,
) -> list[Path]:
    """Write the grid division map to PNG or PDF.

    Parameters
    ----------
    grids : GeoDataFrame
        As for :func:`print_map`.
    path : str or path-like
        ``.pdf`` or ``.png``; missing parent folders are created.
    per_community : bool, default False
        One page per ``community_id`` (sorted): a multi-page PDF, or one PNG per
        community named ``<stem>-<community>.png``. Otherwise one page of all grids.
    paper, orientation : str
        As for :func:`print_map`; with "auto" each page picks its own orientation.
    dpi : float, default 200
        Resolution of PNG output (A4 at 200 dpi is 1654 × 2339 pixels).
    **kwargs
        Other keywords of :func:`print_map`: ``buildings``, ``streets``, ``overlays``,
        ``target``, ``lang``, ``color_by``, ``title``, ``labels``, ``table``,
        ``attribution``.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    InputError
        Unsupported suffix, ``per_community`` without ``community_id``, unknown
        keywords, and the errors of :func:`print_map`.

    Examples
    --------
    >>> import tempfile, gridgeo
    >>> layers = gridgeo.read_osm(gridgeo.datasets.get_path("beijing_wangjing"))
    >>> plan = gridgeo.partition(layers.streets, layers.buildings)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in save_print_map(plan.grids, f"{tmp}/grids.pdf", lang="zh")]
    ['grids.pdf']
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".png"):
        msg = f"print map path must end in .pdf or .png, got {str(out)!r}"
        raise InputError(msg)
    known = {"buildings", "streets", "overlays", "target", "lang", "color_by", "title"}
    known |= {"labels", "table", "attribution"}
    if unknown := sorted(set(kwargs) - known):
        hint = (
            "; use per_community=True for one page per community" if "community" in unknown else ""
        )
        msg = f"unknown keyword(s) for save_print_map: {', '.join(unknown)}{hint}"
        raise InputError(msg)
    paper = _check_page_args(paper, orientation, dpi)
    ctx = _context(grids, **kwargs)
    if per_community:
        pages = [(c, _focus(ctx, c)) for c in _communities(ctx)]
    else:
        pages = [(None, np.ones(len(ctx.grids), dtype=bool))]
    out.parent.mkdir(parents=True, exist_ok=True)
    page_kw = {"paper": paper, "orientation": orientation, "dpi": dpi}
    written: list[Path] = []
    if suffix == ".pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        meta = {"Title": ctx.title, "Creator": "gridgeo", "Subject": label("print_title", ctx.lang)}
        with PdfPages(out, metadata=meta) as pdf, _no_glyph_warnings():
            for community, focus in pages:
                fig = draw_page(ctx, focus=focus, subtitle=_subtitle(ctx, community), **page_kw)
                pdf.savefig(fig)
        written.append(out)
    else:
        for community, focus in pages:
            name = out if community is None else out.with_stem(f"{out.stem}-{_safe(community)}")
            fig = draw_page(ctx, focus=focus, subtitle=_subtitle(ctx, community), **page_kw)
            with _no_glyph_warnings():
                fig.savefig(name, dpi=dpi, format="png")
            written.append(name)
    for p in written:
        pages_in = len(pages) if p.suffix.lower() == ".pdf" else 1
        log.info(
            "print map written to %s (%.1f kB, %d page(s))", p, p.stat().st_size / 1024, pages_in
        )
    return written
