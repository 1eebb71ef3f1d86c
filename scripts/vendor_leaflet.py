"""Vendor Leaflet into ``gridgeo/render/static/`` from the npm registry.

Run once when the pinned version changes (the files it writes are committed)::

    python scripts/vendor_leaflet.py

It runs ``npm pack leaflet@<VERSION>`` (the npm registry, no CDN), checks the tarball
against the pinned npm integrity hash, and copies ``dist/leaflet.js``,
``dist/leaflet.css``, the five images of ``dist/images/`` and the BSD-2-Clause
``LICENSE`` into ``gridgeo/render/static/`` (flat: the CSS's ``images/`` references are
resolved by :mod:`gridgeo.render._assets` when it inlines them). ``manifest.json``
records the version, the integrity hash, the licence and the SHA-256 of every file, and
gridgeo checks the files against it before inlining them into a map.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger("vendor_leaflet")

#: Pinned package and its npm ``dist.integrity`` (``npm view leaflet@1.9.4 dist.integrity``).
PACKAGE = "leaflet"
VERSION = "1.9.4"
INTEGRITY = "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
LICENSE = "BSD-2-Clause"

#: Files taken from the tarball (``package/<src>``) and their names under static/.
FILES = {
    "dist/leaflet.js": "leaflet.js",
    "dist/leaflet.css": "leaflet.css",
    "dist/images/layers.png": "layers.png",
    "dist/images/layers-2x.png": "layers-2x.png",
    "dist/images/marker-icon.png": "marker-icon.png",
    "dist/images/marker-icon-2x.png": "marker-icon-2x.png",
    "dist/images/marker-shadow.png": "marker-shadow.png",
    "LICENSE": "LICENSE-leaflet.txt",
}

STATIC = Path(__file__).resolve().parents[1] / "gridgeo" / "render" / "static"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def vendor(out_dir: Path = STATIC) -> dict:
    """Download the pinned Leaflet with ``npm pack`` and copy its files to ``out_dir``.

    Returns the manifest written to ``out_dir / "manifest.json"``.
    """
    npm = shutil.which("npm")
    if npm is None:
        msg = "npm not found: install Node.js (Debian: apt-get install npm) and run again"
        raise SystemExit(msg)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        spec = f"{PACKAGE}@{VERSION}"
        log.info("npm pack %s", spec)
        subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(tmpdir), "--silent"],
            check=True,
            cwd=tmpdir,
            stdout=subprocess.DEVNULL,
        )
        tarball = tmpdir / f"{PACKAGE}-{VERSION}.tgz"
        got = _integrity(tarball)
        if got != INTEGRITY:
            msg = f"{tarball.name}: integrity {got} does not match the pinned {INTEGRITY}"
            raise SystemExit(msg)
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "package": PACKAGE,
            "version": VERSION,
            "license": LICENSE,
            "source": f"npm registry, npm pack {spec}",
            "integrity": INTEGRITY,
            "files": {},
        }
        with tarfile.open(tarball) as tar:
            for src, name in FILES.items():
                member = tar.extractfile(f"package/{src}")
                if member is None:
                    msg = f"{src} missing from {tarball.name}"
                    raise SystemExit(msg)
                data = member.read()
                (out_dir / name).write_bytes(data)
                manifest["files"][name] = {
                    "from": src,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                log.info("%s -> %s (%d bytes)", src, out_dir / name, len(data))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STATIC, help=f"default: {STATIC}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    vendor(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
