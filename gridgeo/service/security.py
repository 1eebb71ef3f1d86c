"""Guards of the HTTP service: the API token, request size, uploads and paths.

Nothing a request sends reaches a file path: job ids are made by the server and checked
against :data:`JOB_ID`, result names come from a fixed list, uploads are stored under
fixed names chosen from their content (not their file name), and the members of a zip
archive are written as ``layer0.shp``, ``layer0.dbf`` … after checks for path
traversal, links, encryption and zip bombs (:func:`extract_shapefiles`).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .._errors import InputError

__all__ = [
    "JOB_ID",
    "BodyLimit",
    "SafeHeaders",
    "TokenGuard",
    "UploadError",
    "extract_shapefiles",
    "safe_child",
    "sniff_format",
    "token_matches",
]

log = logging.getLogger(__name__)

#: Job ids: 32 lowercase hex digits (uuid4), made by the server.
JOB_ID = re.compile(r"^[0-9a-f]{32}\Z")

#: Members of a zipped Shapefile that are extracted; others are skipped.
SHAPEFILE_PARTS = frozenset({".shp", ".shx", ".dbf", ".prj", ".cpg"})
#: Largest compression ratio accepted for a zip member (and for the whole archive).
MAX_RATIO = 200
#: Most members in a zip archive.
MAX_MEMBERS = 1000
#: Most Shapefiles (layers) in a zip archive.
MAX_LAYERS = 50


class UploadError(InputError):
    """An upload is refused: unknown format, unsafe or oversized archive, missing layer.

    ``status`` is the HTTP status to answer with (413 for size, else 422).
    """

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of an API token (``expected`` None: no token needed)."""
    if expected is None:
        return True
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def safe_child(root: Path, *parts: str) -> Path:
    """``root / parts``, refusing anything that would leave ``root`` (``..``, absolute)."""
    root = root.resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        msg = f"path {'/'.join(parts)!r} leaves its folder"
        raise UploadError(msg)
    return path


# ------------------------------------------------------------------------ body limit


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: answer 413 to request bodies over ``max_bytes``.

    Checks ``Content-Length`` before the application runs, and counts the bytes of
    bodies sent without it (chunked), so nothing over the limit is buffered or parsed.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _json_response(send, 400, "Content-Length is not a number")
                    return
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, limit=self.max_bytes + 64 * 1024 * 1024)
            await _json_response(send, 413, self._message())
            return
        seen = 0
        over = answered = False

        async def counting_receive() -> dict:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif message["type"] == "http.response.start" and not answered:
                # the app turned the interrupted body into an error of its own: say 413
                answered = True
                await _json_response(send, 413, self._message())

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not answered:
                answered = True
                await _json_response(send, 413, self._message())

    def _message(self) -> str:
        mb = self.max_bytes / (1024 * 1024)
        return (
            f"request body too large: the limit is {mb:g} MiB; send a smaller file, or "
            "start the server with a larger --max-upload-mb"
        )


async def _drain(receive: Any, *, limit: int) -> None:
    """Read and drop a request body (up to ``limit`` bytes) so the client sees the answer."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _json_response(
    send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SafeHeaders:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``
    on every answer that does not set them."""

    _HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self._HEADERS if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# ------------------------------------------------------------------------ the token

#: What a request without the right token is told.
TOKEN_MESSAGE = "missing or wrong API token: send Authorization: Bearer TOKEN or X-API-Token: TOKEN"


def request_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token a request carries (``X-API-Token``, else ``Authorization: Bearer``)."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-token":
            return value.decode("latin-1")
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                bearer = credentials.strip()
    return bearer


class TokenGuard:
    """ASGI middleware: refuse requests under ``prefix`` without the token, *before*
    anything reads their body.

    The body of a refused request is read and dropped as it arrives (at most
    ``max_bytes``, so that the client gets the 401 rather than a reset connection), never
    kept: an unauthenticated request costs no memory whatever its size.
    """

    def __init__(self, app: Any, token: str | None, *, prefix: str, max_bytes: int) -> None:
        self.app = app
        self.token = token
        self.prefix = prefix
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            self.token is None
            or scope["type"] != "http"
            or not scope["path"].startswith(self.prefix)
            or token_matches(request_token(scope.get("headers", [])), self.token)
        ):
            await self.app(scope, receive, send)
            return
        await _drain(receive, limit=self.max_bytes)
        await _json_response(send, 401, TOKEN_MESSAGE, [(b"www-authenticate", b"Bearer")])


# --------------------------------------------------------------------------- uploads


def sniff_format(head: bytes) -> str:
    """The format of an upload from its first bytes: ``"gpkg"`` or ``"zip"``.

    The file name a client sends is never trusted (nor used).
    """
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"PK\x05\x06"):
        raise UploadError("the zip archive is empty")
    msg = (
        "unsupported upload: send a GeoPackage (.gpkg) or a zipped Shapefile (.zip); "
        "GeoJSON goes in the JSON body of POST /jobs/partition or /jobs/audit"
    )
    raise UploadError(msg, status=415)


@dataclass(frozen=True)
class ZipLayers:
    """Shapefiles extracted from an archive: layer name → stored ``.shp`` path."""

    layers: dict[str, Path]


def _member_name(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path, refused when absolute, climbing (``..``), a link or encrypted."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if (
        name.startswith("/")
        or re.match(r"^[A-Za-z]:", name)
        or any(part == ".." for part in path.parts)
        or "\x00" in name
    ):
        msg = f"zip archive refused: member {info.filename!r} points outside the archive (path traversal)"
        raise UploadError(msg)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        msg = f"zip archive refused: member {info.filename!r} is a symbolic link"
        raise UploadError(msg)
    if info.flag_bits & 0x1:
        msg = f"zip archive refused: member {info.filename!r} is encrypted"
        raise UploadError(msg)
    return path


def extract_shapefiles(archive: Path, out_dir: Path, *, max_total: int) -> ZipLayers:
    """Extract the Shapefiles of a zip archive safely; returns them by layer name.

    Every member is checked before anything is written: no absolute path, no ``..``,
    no link, no encryption; at most :data:`MAX_MEMBERS` members; the declared sizes
    add up to at most ``max_total`` bytes and no member (nor the whole) expands more
    than :data:`MAX_RATIO` times. While writing, the bytes are counted again (headers
    can lie). Members are written under names made here (``layer0.shp`` …); the layer
    name is the member's file name without extension (its folder too if two share a
    name).

    Raises
    ------
    UploadError
        The archive is unreadable, unsafe, too large once unpacked (status 413), or
        holds no Shapefile.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"cannot read the zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UploadError(f"zip archive refused: {len(infos)} members, at most {MAX_MEMBERS}")
        members: dict[str, dict[str, zipfile.ZipInfo]] = {}
        total = packed = 0
        for info in infos:
            path = _member_name(info)
            total += info.file_size
            packed += info.compress_size
            if info.is_dir():
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > MAX_RATIO:
                msg = f"zip archive refused: member {info.filename!r} expands {ratio:.0f} times (a zip bomb?)"
                raise UploadError(msg, status=413)
            suffix = path.suffix.lower()
            if suffix not in SHAPEFILE_PARTS or not path.parts or path.parts[0] == "__MACOSX":
                continue
            stem = str(path.with_suffix(""))
            if suffix in members.setdefault(stem, {}):
                raise UploadError(f"zip archive refused: {info.filename!r} appears twice")
            members[stem][suffix] = info
        if total > max_total:
            msg = f"zip archive refused: it unpacks to {total / 2**20:.0f} MiB, the limit is {max_total / 2**20:.0f} MiB"
            raise UploadError(msg, status=413)
        if total > 1024 * 1024 and total / max(packed, 1) > MAX_RATIO:
            msg = (
                f"zip archive refused: it expands {total / max(packed, 1):.0f} times (a zip bomb?)"
            )
            raise UploadError(msg, status=413)
        stems = sorted(s for s, parts in members.items() if ".shp" in parts)
        if not stems:
            msg = "the zip archive holds no Shapefile (.shp with its .shx and .dbf)"
            raise UploadError(msg)
        if len(stems) > MAX_LAYERS:
            raise UploadError(f"zip archive refused: {len(stems)} Shapefiles, at most {MAX_LAYERS}")
        base = {s: PurePosixPath(s).name for s in stems}
        clash = {n for n in base.values() if list(base.values()).count(n) > 1}
        out_dir.mkdir(parents=True, exist_ok=True)
        layers: dict[str, Path] = {}
        written = 0
        for i, stem in enumerate(stems):
            for suffix, info in sorted(members[stem].items()):
                target = out_dir / f"layer{i}{suffix}"
                written += _copy_member(zf, info, target, max_total - written)
            name = stem if base[stem] in clash else base[stem]
            layers[name] = out_dir / f"layer{i}.shp"
    return ZipLayers(layers)


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member, counting bytes: refuse more than declared or than ``budget``."""
    limit = min(info.file_size, budget)
    done = 0
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                done += len(chunk)
                if done > limit:
                    msg = (
                        f"zip archive refused: member {info.filename!r} holds more than it declares"
                    )
                    raise UploadError(msg, status=413)
                dst.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        target.unlink(missing_ok=True)
        raise UploadError(f"cannot unpack {info.filename!r}: {exc}") from None
    return done


def remove_tree(path: Path) -> None:
    """Delete a folder the service made (errors are logged, not raised)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - depends on the file system
        log.warning("could not delete %s: %s", path, exc)
