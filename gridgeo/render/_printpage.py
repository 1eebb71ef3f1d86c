"""Drawing one page of a print map: layout, map, scale bar, north arrow, legend, table.

Everything is placed in millimetres on the paper; :mod:`gridgeo.render.printmap` builds
the :class:`PageContext` and calls :func:`draw_page`.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from .._validate import LINEAR, POLYGONAL
from ._fonts import has_cjk
from ._labels import label
from ._layers import GridData, PreparedOverlay, count, text
from .colors import DEVIATION_COLORS, DEVIATION_LIMIT

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PAPER_SIZES", "ORIENTATIONS", "PageContext", "draw_page"]

#: Paper sizes in millimetres, portrait (width, height).
PAPER_SIZES: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
ORIENTATIONS = ("auto", "portrait", "landscape")

_MM = 1 / 25.4  # inches per millimetre
_PT = 0.3528  # millimetres per typographic point
_MARGIN = 10.0  # mm
_HEADER = 20.0  # mm, title band (A4; bands scale with the paper)
_FOOTER = 7.0  # mm
_GAP = 4.0  # mm between map and panel
_PANEL_SIDE = 62.0  # mm, least legend panel width in landscape
_LEGEND_W = 56.0  # mm, legend block width in portrait (table to its right)
_ROW = 3.7  # mm, legend and table row height
_FILL_ALPHA = 0.55
_NICE = (1, 2, 2.5, 5)
_SWATCH_W = 5.0  # mm before the first column: the grid's colour
_TABLE_PT = 6.5  # table font size (A4)


@dataclass
class PageContext:
    """Everything the pages draw, in one metric CRS."""

    data: GridData
    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None
    streets: gpd.GeoDataFrame | None
    overlays: list[PreparedOverlay]
    lang: str
    title: str
    attribution: str | None
    fonts: list[str]
    bold_ok: bool
    crs: pyproj.CRS
    label_column: str | None
    table: bool

    @property
    def table_columns(self) -> list[str]:
        return ["grid_id", "households"] + [c for c in ("worker", "phone") if self.data.has(c)]

    def table_cell(self, column: str, i: int) -> str:
        """Text of the grid table at row ``i`` (grid order) and ``column``."""
        if column == "households":
            hh = count(float(self.data.households.iloc[i]))
            return "" if hh is None else f"{hh:,}"
        return text(self.grids[column].iloc[i]) or ""

    def table_widths(self, k: float) -> dict[str, float]:
        """Width (mm) of each table column: its longest text, header included, plus a gap."""
        widths = {}
        for c in self.table_columns:
            cells = [label(c, self.lang)] + [self.table_cell(c, i) for i in range(len(self.grids))]
            widths[c] = max(text_width_mm(t, _TABLE_PT * k) for t in cells) + 2.5 * k
        return widths


# --------------------------------------------------------------------------- text


def text_width_mm(s: str, size_pt: float) -> float:
    """Rough printed width of ``s``: 1 em per CJK character, 0.6 em per other one.

    Examples
    --------
    >>> round(text_width_mm("网格 G1", 10), 1)  # 2 + 3 x 0.6 em of 10 pt
    13.4
    """
    ems = sum(1.0 if has_cjk(ch) else 0.6 for ch in s)
    return ems * size_pt * _PT


def _text_kw(
    ctx: PageContext,
    size: float,
    *,
    bold: bool = False,
    color: str = "#222222",
    halo: float = 0.0,
    **kw: Any,
) -> dict:
    """Keywords of ``ax.text``: fonts, and bold drawn with a stroke when the CJK font has none."""
    from matplotlib import patheffects

    effects: list[Any] = []
    weight = "normal"
    if halo:
        effects.append(patheffects.Stroke(linewidth=halo, foreground="white"))
    if bold and ctx.bold_ok:
        weight = "bold"
    elif bold:
        effects.append(patheffects.Stroke(linewidth=max(size * 0.05, 0.3), foreground=color))
    if effects:
        effects.append(patheffects.Normal())
        kw["path_effects"] = effects
    return {"fontsize": size, "fontfamily": ctx.fonts, "fontweight": weight, "color": color, **kw}


# --------------------------------------------------------------------------- layout


@dataclass
class Layout:
    paper_mm: tuple[float, float]  # (width, height) as printed
    map_box: tuple[float, float, float, float]  # x, y, w, h in mm from lower left
    panel_box: tuple[float, float, float, float]
    landscape: bool
    scale: float  # map scale denominator (1 : scale)
    k: float  # size factor of the paper (A4 = 1)
    table_cols: int  # columns of the grid table


def _legend_height(ctx: PageContext, k: float) -> float:
    """Height (mm) of the legend and summary block, as :func:`_draw_panel` draws it."""
    rows = 1.4 + len(_legend_entries(ctx)) + 0.4 + (3 if ctx.data.target is not None else 2)
    if ctx.data.color_by == "deviation":
        rows += 3.1
    return 1.0 + (rows + 0.6) * _ROW * k


def _table_col_w(ctx: PageContext, k: float) -> float:
    return _SWATCH_W * k + sum(ctx.table_widths(k).values())


def page_layout(
    ctx: PageContext,
    paper: str,
    orientation: str,
    extent: tuple[float, float, float, float],
    n_rows: int,
) -> Layout:
    """Page boxes; "auto" picks the orientation that prints the map at the larger scale."""
    pw, ph = PAPER_SIZES[paper]
    k = pw / 210.0
    row = _ROW * k
    col_w = _table_col_w(ctx, k) + 2 * k
    dx, dy = max(extent[2] - extent[0], 1.0), max(extent[3] - extent[1], 1.0)
    legend_h = _legend_height(ctx, k)
    n_table = n_rows if ctx.table else 0
    options = []
    for landscape in (False, True):
        if orientation != "auto" and landscape != (orientation == "landscape"):
            continue
        w, h = (ph, pw) if landscape else (pw, ph)
        top = h - _MARGIN - _HEADER * k
        bottom = _MARGIN + _FOOTER * k
        body_h = top - bottom
        if landscape:
            per_col = max(1, int((body_h - legend_h) // row) - 1)
            cols = 1 if n_table <= per_col else 2
            panel_w = max(_PANEL_SIDE * k, cols * col_w) if n_table else _PANEL_SIDE * k
            map_box = (_MARGIN, bottom, w - 2 * _MARGIN - panel_w - _GAP, body_h)
            panel_box = (w - _MARGIN - panel_w, bottom, panel_w, body_h)
        else:
            table_w = w - 2 * _MARGIN - _LEGEND_W * k - 4
            cols = max(1, int(table_w // col_w))
            needed = (math.ceil(n_table / cols) + 1.5) * row if n_table else 0
            panel_h = min(max(legend_h, needed, 40.0 * k), 0.42 * body_h)
            map_box = (_MARGIN, bottom + panel_h + _GAP, w - 2 * _MARGIN, body_h - panel_h - _GAP)
            panel_box = (_MARGIN, bottom, w - 2 * _MARGIN, panel_h)
        scale = max(dx / (map_box[2] / 1000.0), dy / (map_box[3] / 1000.0))
        options.append(Layout((w, h), map_box, panel_box, landscape, scale, k, cols))
    return min(options, key=lambda lay: lay.scale)


def _axes(fig: Figure, box: tuple[float, float, float, float], paper: tuple[float, float]) -> Axes:
    x, y, w, h = box
    return fig.add_axes((x / paper[0], y / paper[1], w / paper[0], h / paper[1]))


def nice_length(max_m: float) -> float:
    """Largest 1, 2, 2.5 or 5 × 10^n not above ``max_m`` (scale-bar length).

    Examples
    --------
    >>> nice_length(730.0), nice_length(2400.0)
    (500.0, 2000.0)
    """
    exp = math.floor(math.log10(max_m))
    best = 10.0**exp
    for n in _NICE:
        if n * 10.0**exp <= max_m:
            best = n * 10.0**exp
    return best


def round_ratio(scale: float) -> int:
    """Scale denominator to two significant figures (1:12,345 → 1:12,000).

    Examples
    --------
    >>> round_ratio(12_345.6)
    12000
    """
    exp = max(math.floor(math.log10(max(scale, 1))) - 1, 0)
    return int(round(scale / 10**exp) * 10**exp)


def true_north(crs: pyproj.CRS, x: float, y: float) -> float:
    """Angle (radians, counter-clockwise from the map's y axis) of true north at (x, y)."""
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    to_xy = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    lon, lat = to_ll.transform(x, y)
    x2, y2 = to_xy.transform(lon, min(lat + 0.01, 89.9))
    return math.atan2(-(x2 - x), y2 - y)


# --------------------------------------------------------------------------- map


def _draw_map(
    ax: Axes, ctx: PageContext, focus: np.ndarray, extent: tuple[float, ...], lay: Layout
) -> None:
    k = lay.k
    grids = ctx.grids
    colors = np.asarray(ctx.data.colors, dtype=object)
    cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    half_w = lay.scale * lay.map_box[2] / 1000 / 2
    half_h = lay.scale * lay.map_box[3] / 1000 / 2
    ax.set_facecolor("#fbfbf8")
    if (~focus).any():
        grids[~focus].plot(ax=ax, color="#e6e6e6", edgecolor="#b0b0b0", linewidth=0.4 * k)
    grids[focus].plot(ax=ax, color=list(colors[focus]), alpha=_FILL_ALPHA, linewidth=0)
    if ctx.buildings is not None and len(ctx.buildings):
        ctx.buildings.plot(ax=ax, color="#8f8f8f", edgecolor="#6f6f6f", linewidth=0.15 * k)
    if ctx.streets is not None and len(ctx.streets):
        ctx.streets.plot(ax=ax, color="#6b6b6b", linewidth=0.35 * k)
    grids[focus].boundary.plot(ax=ax, color="#222222", linewidth=0.9 * k)
    if "community_id" in grids.columns and grids["community_id"].nunique() > 1:
        _community_outlines(grids).plot(ax=ax, color="#000000", linewidth=1.8 * k)
    for ov in ctx.overlays:
        _draw_overlay(ax, ov, k)
    ax.set_xlim(cx - half_w, cx + half_w)  # the same scale both ways: fills the box
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
    if ctx.label_column:
        points = shapely.point_on_surface(np.asarray(grids.geometry.values))
        for i in np.flatnonzero(focus):
            t = text(grids[ctx.label_column].iloc[i])
            if t is None:
                continue
            width_mm = math.sqrt(float(ctx.data.area_m2[i])) / lay.scale * 1000
            size = min(7.5 * k, max(4.0, 0.9 * width_mm / (max(len(t), 1) * 0.6 * _PT)))
            ax.text(
                points[i].x,
                points[i].y,
                t,
                ha="center",
                va="center",
                clip_on=True,
                **_text_kw(ctx, size, bold=True, color="#111111", halo=2.2 * k),
            )


def _community_outlines(grids: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Outer boundary of each community; slivers between its grids (< 1 m) closed first."""
    outlines = []
    for _, part in grids.groupby("community_id", sort=True):
        merged = shapely.union_all(part.geometry.buffer(0.5).to_numpy()).buffer(-0.5)
        outlines.append(merged.boundary)
    return gpd.GeoSeries(outlines, crs=grids.crs)


def _draw_overlay(ax: Axes, ov: PreparedOverlay, k: float) -> None:
    kinds = ov.gdf.geom_type
    polys = ov.gdf[kinds.isin(list(POLYGONAL))]
    lines = ov.gdf[kinds.isin(list(LINEAR))]
    points = ov.gdf[kinds.isin(["Point", "MultiPoint"])]
    if len(polys):
        polys.plot(ax=ax, color=ov.color, alpha=ov.fill_opacity, linewidth=0)
        polys.boundary.plot(
            ax=ax, color=ov.color, linewidth=1.4 * k, linestyle="--" if ov.dashed else "-"
        )
    if len(lines):
        lines.plot(ax=ax, color=ov.color, linewidth=1.8 * k)
    if len(points):
        points.plot(ax=ax, color=ov.color, markersize=18 * k, edgecolor="white", linewidth=0.6)


def _draw_scale_and_north(ax: Axes, ctx: PageContext, lay: Layout) -> None:
    """Scale bar in the lower left corner of the map, north arrow in the upper right."""
    _draw_scale_bar(ax, ctx, lay)
    _draw_north_arrow(ax, ctx, lay)


def _draw_scale_bar(ax: Axes, ctx: PageContext, lay: Layout) -> None:
    """Scale bar a quarter of the map wide on a white backdrop, the ratio under it."""
    k = lay.k
    x0, x1 = ax.get_xlim()
    y0, _ = ax.get_ylim()
    mm = lay.scale / 1000  # metres per millimetre of paper
    length = nice_length((x1 - x0) * 0.25)
    bx, by = x0 + 6 * k * mm, y0 + 8 * k * mm
    bar_h = 1.2 * k * mm
    _scale_backdrop(ax, bx, by, length, k, mm)
    _scale_segments(ax, bx, by, length, bar_h)
    _scale_ticks(ax, ctx, bx, by + bar_h + 0.8 * k * mm, length, k)
    ax.text(
        bx,
        by - 0.8 * k * mm,
        f"{label('scale', ctx.lang)} 1:{round_ratio(lay.scale):,}",
        ha="left",
        va="top",
        zorder=11,
        **_text_kw(ctx, 6.5 * k),
    )


def _scale_backdrop(ax: Axes, bx: float, by: float, length: float, k: float, mm: float) -> None:
    """The white box under the scale bar and its labels."""
    from matplotlib.patches import Rectangle

    ax.add_patch(
        Rectangle(
            (bx - 3 * k * mm, by - 5 * k * mm),
            length + 10 * k * mm,
            13 * k * mm,
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=9,
        )
    )


def _scale_segments(ax: Axes, bx: float, by: float, length: float, bar_h: float) -> None:
    """The bar itself: four segments, dark and white in turn."""
    from matplotlib.patches import Rectangle

    for j in range(4):
        ax.add_patch(
            Rectangle(
                (bx + j * length / 4, by),
                length / 4,
                bar_h,
                facecolor="#222222" if j % 2 == 0 else "white",
                edgecolor="#222222",
                linewidth=0.5,
                zorder=10,
            )
        )


def _scale_ticks(ax: Axes, ctx: PageContext, bx: float, y: float, length: float, k: float) -> None:
    """Distances over the bar's start, middle and end (the unit after the last)."""
    km = length >= 1000
    unit = label("kilometres" if km else "metres", ctx.lang)
    for frac in (0.0, 0.5, 1.0):
        value = length * frac / (1000 if km else 1)
        shown = f"{value:g}" + (f" {unit}" if frac == 1.0 else "")
        ax.text(
            bx + length * frac,
            y,
            shown,
            ha="center",
            va="bottom",
            zorder=11,
            **_text_kw(ctx, 6.5 * k),
        )


def _draw_north_arrow(ax: Axes, ctx: PageContext, lay: Layout) -> None:
    """North arrow in the upper right corner, pointing to true north, and its label."""
    from matplotlib.patches import FancyArrow

    k = lay.k
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    mm = lay.scale / 1000  # metres per millimetre of paper
    size = 11 * k * mm
    nx, ny = x1 - 9 * k * mm, y1 - 16 * k * mm
    angle = true_north(ctx.crs, (x0 + x1) / 2, (y0 + y1) / 2)
    dx, dy = -math.sin(angle) * size, math.cos(angle) * size
    ax.add_patch(
        FancyArrow(
            nx - dx / 2,
            ny - dy / 2,
            dx,
            dy,
            width=size * 0.12,
            head_width=size * 0.42,
            head_length=size * 0.45,
            length_includes_head=True,
            facecolor="#222222",
            edgecolor="white",
            linewidth=0.6,
            zorder=11,
        )
    )
    ax.text(
        nx + dx * 0.6,
        ny + dy * 0.6 + 1.0 * k * mm,
        label("north", ctx.lang),
        ha="center",
        va="bottom",
        zorder=11,
        **_text_kw(ctx, 9 * k, bold=True, halo=2.0 * k),
    )


# --------------------------------------------------------------------------- panel


def _legend_entries(ctx: PageContext) -> list[tuple[str, dict]]:
    out = [(label("grid_boundary", ctx.lang), {"kind": "box", "fc": "#cfd8e3", "ec": "#222222"})]
    if ctx.buildings is not None and len(ctx.buildings):
        entry = {"kind": "box", "fc": "#8f8f8f", "ec": "#6f6f6f"}
        out.append((label("buildings_layer", ctx.lang), entry))
    if ctx.streets is not None and len(ctx.streets):
        out.append((label("streets_layer", ctx.lang), {"kind": "line", "color": "#6b6b6b"}))
    for ov in ctx.overlays:
        kinds = set(ov.gdf.geom_type)
        if kinds <= set(LINEAR):
            kind = "line"
        elif kinds <= {"Point", "MultiPoint"}:
            kind = "point"
        else:
            kind = "box"
        entry = {"kind": kind, "color": ov.color, "fc": ov.color, "ec": ov.color}
        out.append((ov.name, {**entry, "dashed": ov.dashed}))
    return out


def _draw_panel(ax: Axes, ctx: PageContext, focus: np.ndarray, lay: Layout) -> None:
    """The panel beside the map: legend, deviation colours, summary and grid table."""
    k = lay.k
    _, _, pw, ph = lay.panel_box
    ax.set_xlim(0, pw)
    ax.set_ylim(0, ph)
    ax.axis("off")
    y = _draw_legend(ax, ctx, ph - 1.0, k)
    if ctx.data.color_by == "deviation":
        y = _draw_deviation_key(ax, ctx, y, k)
    _draw_summary(ax, ctx, focus, y - _ROW * k * 0.4, k)
    if ctx.table:
        _draw_table(ax, ctx, focus, _table_box(ctx, lay), lay)


def _draw_legend(ax: Axes, ctx: PageContext, y: float, k: float) -> float:
    """The legend's title and one row per layer from ``y`` down; the ``y`` under it."""
    row = _ROW * k
    ax.text(0, y, label("legend", ctx.lang), va="top", **_text_kw(ctx, 9 * k, bold=True))
    y -= row * 1.4
    for name, spec in _legend_entries(ctx):
        _legend_symbol(ax, spec, y, k)
        ax.text(8.5 * k, y - row / 2, name, va="center", **_text_kw(ctx, 7 * k))
        y -= row
    return y


def _legend_symbol(ax: Axes, spec: dict, y: float, k: float) -> None:
    """The symbol of one legend row (a line, a point or a box) at the row's ``y``."""
    from matplotlib.patches import Rectangle

    row = _ROW * k
    mid = y - row / 2
    if spec["kind"] == "line":
        ax.plot([0.5 * k, 6.5 * k], [mid, mid], color=spec["color"], linewidth=1.6 * k)
    elif spec["kind"] == "point":
        ax.plot([3.5 * k], [mid], "o", color=spec["color"], markersize=4 * k)
    else:
        ax.add_patch(
            Rectangle(
                (0.5 * k, y - row * 0.85),
                6 * k,
                row * 0.7,
                facecolor=spec["fc"],
                edgecolor=spec["ec"],
                alpha=0.8,
                linewidth=0.8,
                linestyle="--" if spec.get("dashed") else "-",
            )
        )


def _draw_deviation_key(ax: Axes, ctx: PageContext, y: float, k: float) -> float:
    """The deviation colours as a bar from −limit to +limit; the ``y`` under it."""
    from matplotlib.patches import Rectangle

    row = _ROW * k
    y -= row * 0.3
    ax.text(0, y, label("deviation", ctx.lang), va="top", **_text_kw(ctx, 7 * k))
    y -= row
    n = len(DEVIATION_COLORS)
    bar_w = 40.0 * k
    for j, c in enumerate(DEVIATION_COLORS):
        ax.add_patch(
            Rectangle(
                (0.5 * k + j * bar_w / n, y - row * 0.7),
                bar_w / n,
                row * 0.6,
                facecolor=c,
                edgecolor="#999999",
                linewidth=0.3,
            )
        )
    lim = f"{DEVIATION_LIMIT:.0%}"
    y -= row * 0.8
    for frac, t in ((0.0, f"−{lim}"), (0.5, "0"), (1.0, f"+{lim}")):
        ax.text(0.5 * k + frac * bar_w, y, t, ha="center", va="top", **_text_kw(ctx, 6 * k))
    return y - row


def _draw_summary(ax: Axes, ctx: PageContext, focus: np.ndarray, y: float, k: float) -> None:
    """Grids, households and the target of the page's grids, one line each from ``y``."""
    lang = ctx.lang
    row = _ROW * k
    households = float(ctx.data.households[focus].sum())
    summary = [
        f"{label('n_grids', lang)}: {int(focus.sum()):,}",
        f"{label('total_households', lang)}: {count(households):,}",
    ]
    if ctx.data.target is not None:
        summary.append(
            f"{label('target', lang)}: {count(ctx.data.target):,} {label('target_unit', lang)}"
        )
    for line in summary:
        ax.text(0, y, line, va="top", **_text_kw(ctx, 7 * k))
        y -= row


def _table_box(ctx: PageContext, lay: Layout) -> tuple[float, float, float]:
    """Where the grid table goes in the panel: (left, top, width), in millimetres."""
    k = lay.k
    _, _, pw, ph = lay.panel_box
    if lay.landscape:
        return (0.0, ph - _legend_height(ctx, k), pw)
    return (_LEGEND_W * k + 4, ph - 1.0, pw - _LEGEND_W * k - 4)


def _draw_table(
    ax: Axes,
    ctx: PageContext,
    focus: np.ndarray,
    box: tuple[float, float, float],
    lay: Layout,
) -> None:
    """Grid table: colour, code, households, worker, phone; columns side by side."""
    from matplotlib.patches import Rectangle

    k = lay.k
    tx, top, _ = box
    row = _ROW * k
    cols = ctx.table_columns
    widths = ctx.table_widths(k)
    col_w = _table_col_w(ctx, k)
    per_col = max(1, int(top // row) - 1)
    order = np.argsort(ctx.grids["grid_id"].astype(str).to_numpy(), kind="stable")
    idx = [int(i) for i in order if focus[i]]
    capacity = lay.table_cols * per_col
    more = 0
    if len(idx) > capacity:
        more = len(idx) - (capacity - 1)
        idx = idx[: capacity - 1]
    size = _TABLE_PT * k
    for c_i in range(lay.table_cols):
        chunk = idx[c_i * per_col : (c_i + 1) * per_col]
        if not chunk:
            break
        x = tx + c_i * (col_w + 2 * k)
        y = top
        cx = x + _SWATCH_W * k
        for c in cols:
            ax.text(cx, y, label(c, ctx.lang), va="top", **_text_kw(ctx, size, color="#444444"))
            cx += widths[c]
        y -= row
        ax.plot([x, x + col_w], [y + row * 0.1] * 2, color="#999999", linewidth=0.4)
        for i in chunk:
            ax.add_patch(
                Rectangle(
                    (x, y - row * 0.8),
                    3.6 * k,
                    row * 0.6,
                    facecolor=ctx.data.colors[i],
                    alpha=min(1.0, _FILL_ALPHA + 0.2),
                    edgecolor="#555555",
                    linewidth=0.3,
                )
            )
            cx = x + _SWATCH_W * k
            for c in cols:
                ax.text(cx, y - row / 2, ctx.table_cell(c, i), va="center", **_text_kw(ctx, size))
                cx += widths[c]
            y -= row
    if more:
        x = tx + (lay.table_cols - 1) * (col_w + 2 * k)
        ax.text(
            x + _SWATCH_W * k,
            top - per_col * row - row * 0.2,
            label("more_grids", ctx.lang).format(n=more),
            va="top",
            **_text_kw(ctx, size, color="#555555"),
        )


# --------------------------------------------------------------------------- page


def draw_page(
    ctx: PageContext,
    *,
    focus: np.ndarray,
    subtitle: str,
    paper: str,
    orientation: str,
    dpi: float,
) -> Figure:
    """One page as a matplotlib figure (no pyplot), sized to the paper."""
    from matplotlib.figure import Figure

    sel = ctx.grids[focus]
    x0, y0, x1, y1 = (float(v) for v in sel.total_bounds)
    pad = 0.04 * max(x1 - x0, y1 - y0, 50.0)
    extent = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    lay = page_layout(ctx, paper, orientation, extent, int(focus.sum()))
    w, h = lay.paper_mm
    k = lay.k
    fig = Figure(figsize=(w * _MM, h * _MM), dpi=dpi, facecolor="white")
    left, top = _MARGIN / w, (h - _MARGIN) / h
    fig.text(left, top, ctx.title, ha="left", va="top", **_text_kw(ctx, 17 * k, bold=True))
    fig.text(
        left,
        (h - _MARGIN - 10.5 * k) / h,
        subtitle,
        ha="left",
        va="top",
        **_text_kw(ctx, 8.5 * k, color="#444444"),
    )
    map_ax = _axes(fig, lay.map_box, lay.paper_mm)
    _draw_map(map_ax, ctx, focus, extent, lay)
    _draw_scale_and_north(map_ax, ctx, lay)
    _draw_panel(_axes(fig, lay.panel_box, lay.paper_mm), ctx, focus, lay)
    footer_y = (_MARGIN + 1.0) / h
    small = _text_kw(ctx, 6.5 * k, color="#444444")
    if ctx.attribution:
        fig.text(left, footer_y, ctx.attribution, ha="left", va="bottom", **small)
    right = (
        f"{label('made_with', ctx.lang)} · {_dt.date.today().isoformat()} · {ctx.crs.to_string()}"
    )
    fig.text((w - _MARGIN) / w, footer_y, right, ha="right", va="bottom", **small)
    return fig
