"""Finding a font with Chinese glyphs for the print maps.

matplotlib's default font (DejaVu Sans) has no CJK glyphs: Chinese text would print as
empty boxes. :func:`cjk_font_family` looks, once per process, for a CJK font in this
order: fonts matplotlib already knows by name (Noto Sans CJK, Source Han Sans,
WenQuanYi, Microsoft YaHei, SimHei, PingFang …), then fontconfig's list of fonts that
cover Chinese (``fc-list :lang=zh``), then the usual Debian/Ubuntu font folders, and
registers the file it finds with matplotlib. When there is none it logs a warning that
says what to install (Debian/Ubuntu: ``apt-get install fonts-noto-cjk`` or
``fonts-wqy-microhei``).

Examples
--------
>>> from gridgeo.render._fonts import has_cjk
>>> has_cjk("网格 G0001"), has_cjk("Grid G0001")
(True, False)
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["CJK_FAMILIES", "cjk_font_family", "font_families", "has_bold", "has_cjk"]

log = logging.getLogger(__name__)

#: Families tried first, best first (simplified-Chinese glyph forms before others).
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "droidsansfallback", "msyh", "simhei")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds Chinese, Japanese or Korean characters."""
    return bool(_CJK.search(text))


def _register(path: str) -> str | None:
    """Add a font file to matplotlib; its family name, or None if it cannot be read."""
    from matplotlib import font_manager

    try:
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    except (OSError, RuntimeError, ValueError) as exc:
        log.debug("cannot use font %s: %s", path, exc)
        return None


def _from_matplotlib() -> str | None:
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    return next((fam for fam in CJK_FAMILIES if fam in known), None)


def _from_fontconfig() -> str | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "family", "file"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found: dict[str, str] = {}
    for line in out.splitlines():
        path, _, families = line.partition(":")
        for fam in families.split(","):
            found.setdefault(fam.strip(), path.strip())
    ranked = [found[f] for f in CJK_FAMILIES if f in found] + sorted(set(found.values()))
    for path in ranked:
        if path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")) and (name := _register(path)):
            return name
    return None


def _from_folders() -> str | None:
    for folder in _FONT_DIRS:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            low = path.name.lower().replace("-", "").replace("_", "")
            is_font = path.suffix.lower() in (".ttf", ".ttc", ".otf")
            if is_font and low.startswith(_FILE_HINTS) and (name := _register(str(path))):
                return name
    return None


@functools.cache
def cjk_font_family() -> str | None:
    """Family name of a CJK font matplotlib can use, or None (a warning is logged).

    Cached for the process: a font installed after the first call is found in the next
    process (or after ``cjk_font_family.cache_clear()``).
    """
    for finder in (_from_matplotlib, _from_fontconfig, _from_folders):
        name = finder()
        if name:
            log.debug("CJK font for print maps: %s (%s)", name, finder.__name__)
            return name
    log.warning(
        "no font with Chinese glyphs found: Chinese text on print maps will show as boxes; "
        "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk, or the smaller "
        "fonts-wqy-microhei) and run again"
    )
    return None


def font_families(need_cjk: bool) -> list[str]:
    """Font families for matplotlib text: a CJK font first when needed and found."""
    families = ["DejaVu Sans"]
    if need_cjk and (cjk := cjk_font_family()):
        families.insert(0, cjk)
    return families


@functools.cache
def has_bold(family: str) -> bool:
    """Whether matplotlib knows a bold face of ``family`` (WenQuanYi Micro Hei has none)."""
    from matplotlib import font_manager

    def numeric(weight: str | int) -> int:
        if isinstance(weight, str):
            return int(font_manager.weight_dict.get(weight, 400))
        return int(weight)

    return any(
        f.name == family and numeric(f.weight) >= 600 for f in font_manager.fontManager.ttflist
    )
