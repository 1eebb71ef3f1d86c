"""JSON submissions read as a stream: bounded memory, every fault named by its field.

A body (``{"streets": FeatureCollection, "buildings": …, "options": {…}}``) is first
written to the job's folder as it arrives; :func:`read_body` then reads it in a worker
thread with a streaming parser (ijson), one feature at a time: each layer is written
back out to ``inputs/<role>.geojson`` as it is read, so memory holds one feature (and
a batch of geometries being checked), never the whole body. What is refused, with a 422
naming the field (``streets.features[3].geometry.type``):

- anything that is not JSON — among it ``NaN``, ``Infinity`` and numbers beyond a
  double, which JSON does not have;
- nesting deeper than :data:`MAX_DEPTH`;
- unknown or repeated fields, a layer that is not a FeatureCollection of Features,
  geometries GEOS cannot read, coordinates that are not longitudes/latitudes when the
  input CRS says they are;
- options the option models refuse, and any number in them that is not finite.

Whether the layers make a plan (geometry types, extents, households …) is decided by
:func:`gridgeo.partition` and :func:`gridgeo.audit.audit` themselves when the job runs,
with the messages the command line gives.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson
import numpy as np
import shapely
from pydantic import BaseModel, ValidationError

from .._errors import CRSError, InputError
from .inputs import REQUIRED, ROLES, input_crs
from .models import MAX_FEATURES, AuditOptions, PartitionOptions
from .security import safe_child

__all__ = ["MAX_DEPTH", "BodyError", "read_body", "validate_options"]

#: Deepest nesting accepted (a MultiPolygon feature needs 7 levels, properties a few).
MAX_DEPTH = 32
#: GeoJSON geometry types accepted in layers.
GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
_BATCH = 2000  # geometries checked by GEOS at once
_OPTIONS = {"partition": PartitionOptions, "audit": AuditOptions}


class BodyError(InputError):
    """A request body refused: ``field`` names where (``options.target``), the message why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _where(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "body"


def _json_message(exc: Exception) -> str:
    """A one-line reason for a parser error (yajl's message shows the spot)."""
    lines = str(exc).split("\n")
    first = lines[0] if lines and lines[0] else "invalid JSON"
    window = ""
    if len(lines) > 2 and "^" in lines[2]:
        col = lines[2].index("^")
        window = lines[1][max(0, col - 10) : col + 10]
    if re.search(r"NaN|Infinity|infinity|\bnan\b|\binf\b", window):
        return (
            "NaN and Infinity are not JSON numbers (JSON has no such values); send a finite number"
        )
    if "overflow" in first:
        return f"a number out of range ({first.split(': ', 1)[-1]}); send a finite number"
    if "premature EOF" in first:
        return "the body ends before its JSON does (cut off, or empty)"
    return f"not valid JSON ({first.split(': ', 1)[-1].rstrip('.')})"


class _Reader:
    """Walks the parser's events, knowing the path of the value being read."""

    def __init__(self, events: Iterator[tuple[str, Any]]) -> None:
        self.events = events
        self.path: list[str | int] = []
        self.depth = 0

    def error(self, message: str, *extra: str | int) -> BodyError:
        return BodyError(_where([*self.path, *extra]), message)

    def next(self) -> tuple[str, Any]:
        try:
            return next(self.events)
        except StopIteration:
            raise self.error("the body ends before its JSON does (cut off, or empty)") from None
        except ijson.JSONError as exc:
            raise self.error(_json_message(exc)) from None
        except RecursionError:  # pragma: no cover - the depth check comes first
            raise self.error(f"nested deeper than {MAX_DEPTH} levels") from None

    def end(self) -> None:
        """The body must end here."""
        try:
            event = next(self.events, None)
        except ijson.JSONError as exc:
            raise BodyError("body", _json_message(exc)) from None
        if event is not None:
            raise BodyError("body", "more than one JSON value")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels; GeoJSON needs fewer")

    def members(self) -> Iterator[str]:
        """Keys of the object just opened; the path holds each key while its value is read."""
        self.enter()
        while True:
            event, value = self.next()
            if event == "end_map":
                self.depth -= 1
                return
            self.path.append(value)
            yield value
            self.path.pop()

    def items(self) -> Iterator[tuple[str, Any]]:
        """Events starting each item of the array just opened; the path holds its index."""
        self.enter()
        index = 0
        while True:
            event, value = self.next()
            if event == "end_array":
                self.depth -= 1
                return
            self.path.append(index)
            yield event, value
            self.path.pop()
            index += 1

    def value(self, event: str, value: Any) -> Any:
        """The whole value that ``event`` starts, as Python objects."""
        if event == "start_map":
            out: dict[str, Any] = {}
            for key in self.members():
                out[key] = self.value(*self.next())
            return out
        if event == "start_array":
            return [self.value(e, v) for e, v in self.items()]
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error("not a finite number; send a finite number")
        return value


class _Layer:
    """One layer being copied to its file, its geometries checked by batches."""

    def __init__(self, out: IO[str], role: str) -> None:
        self.out = out
        self.role = role
        self.count = 0
        self.texts: list[str] = []
        self.index: list[int] = []
        self.bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])

    def add(self, feature: Any, reader: _Reader) -> None:
        if not isinstance(feature, dict):
            raise reader.error("must be a GeoJSON Feature (an object)")
        if feature.get("type") != "Feature":
            raise reader.error('must be "Feature"', "type")
        if "geometry" not in feature:
            raise reader.error("required (null for a feature without geometry)", "geometry")
        geometry = feature["geometry"]
        if geometry is not None:
            if not isinstance(geometry, dict):
                raise reader.error("must be a GeoJSON geometry (an object) or null", "geometry")
            kind = geometry.get("type")
            if kind not in GEOMETRY_TYPES:
                names = ", ".join(sorted(GEOMETRY_TYPES))
                raise reader.error(f"{kind!r} is not one of {names}", "geometry", "type")
            if not isinstance(geometry.get("coordinates"), list):
                raise reader.error("required: an array", "geometry", "coordinates")
            geometry = {"type": kind, "coordinates": geometry["coordinates"]}
        properties = feature.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise reader.error("must be an object or null", "properties")
        fid = feature.get("id")
        if fid is not None and (isinstance(fid, bool) or not isinstance(fid, str | int | float)):
            raise reader.error("must be a string or a number", "id")
        text = "null" if geometry is None else json.dumps(geometry, allow_nan=False)
        if geometry is not None:
            self.texts.append(text)
            self.index.append(self.count)
        record = {"type": "Feature", "properties": properties}
        if fid is not None:
            record["id"] = fid
        head = json.dumps(record, allow_nan=False, ensure_ascii=False)[:-1]
        self.out.write(("," if self.count else "") + head + ', "geometry": ' + text + "}")
        self.count += 1
        if self.count > MAX_FEATURES:
            raise reader.error(f"more than {MAX_FEATURES:,} features in one layer")
        if len(self.texts) >= _BATCH:
            self.check()

    def check(self) -> None:
        """Read the batch's geometries with GEOS: each must be readable."""
        if not self.texts:
            return
        texts = np.array(self.texts, dtype=object)
        try:
            geoms = shapely.from_geojson(texts)
        except (shapely.errors.GEOSException, ValueError, TypeError):
            for text, k in zip(self.texts, self.index, strict=True):
                try:
                    shapely.from_geojson(text)
                except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
                    reason = str(exc).splitlines()[0][:200]
                    raise BodyError(
                        f"{self.role}.features[{k}].geometry",
                        f"cannot be read ({reason}); check its coordinates",
                    ) from None
            raise  # pragma: no cover - the batch failed, so one of them fails
        box = shapely.bounds(geoms[~shapely.is_empty(geoms)])
        if len(box):
            lo = np.nanmin(box, axis=0)
            hi = np.nanmax(box, axis=0)
            self.bounds = np.array(
                [
                    min(self.bounds[0], lo[0]),
                    min(self.bounds[1], lo[1]),
                    max(self.bounds[2], hi[2]),
                    max(self.bounds[3], hi[3]),
                ]
            )
        self.texts.clear()
        self.index.clear()


def _read_layer(reader: _Reader, role: str, inputs: Path) -> tuple[_Layer, str] | None:
    """Copy one layer (a FeatureCollection, or null) to ``inputs/<role>.geojson``."""
    event, value = reader.next()
    if event == "null":
        return None
    if event != "start_map":
        raise reader.error("must be a GeoJSON FeatureCollection (an object) or null")
    file = f"inputs/{role}.geojson"
    with open(safe_child(inputs.parent, file), "w", encoding="utf-8") as out:
        out.write('{"type": "FeatureCollection", "features": [')
        layer = _Layer(out, role)
        seen_type = seen_features = False
        for key in reader.members():
            event, value = reader.next()
            if key == "type":
                if value != "FeatureCollection" or event != "string":
                    raise reader.error('must be "FeatureCollection"')
                seen_type = True
            elif key == "features":
                if event != "start_array":
                    raise reader.error("must be an array of Features")
                for item_event, item_value in reader.items():
                    layer.add(reader.value(item_event, item_value), reader)
                layer.check()
                seen_features = True
            else:  # foreign members (bbox, name, crs …): read and dropped
                reader.value(event, value)
        out.write("]}")
    if not seen_type:
        raise reader.error('required: "FeatureCollection"', "type")
    if not seen_features:
        raise reader.error("required: an array of Features", "features")
    if layer.count == 0:
        raise reader.error("the FeatureCollection holds no features", "features")
    return layer, file


def read_body(path: Path, kind: str, job_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the JSON body stored at ``path`` and split it into the job's inputs.

    Parameters
    ----------
    path : Path
        The body as received.
    kind : {"partition", "audit"}
    job_dir : Path
        The job's folder: layers go to ``inputs/<role>.geojson``.

    Returns
    -------
    spec, options : dict, dict
        The inputs' spec (as :func:`gridgeo.service.inputs.load_inputs` reads it) and
        the validated options.

    Raises
    ------
    BodyError
        The first fault found, naming its field.
    """
    roles = ROLES[kind]
    inputs = safe_child(job_dir, "inputs")
    inputs.mkdir(exist_ok=True)
    layers: dict[str, tuple[_Layer, str]] = {}
    options: Any = {}
    with open(path, "rb") as f:
        reader = _Reader(ijson.basic_parse(f, use_float=True, buf_size=64 * 1024))
        event, _ = reader.next()
        if event != "start_map":
            raise BodyError("body", "must be a JSON object of layers and options")
        seen: set[str] = set()
        for key in reader.members():
            if key in seen:
                raise reader.error("given twice")
            seen.add(key)
            if key == "options":
                options = reader.value(*reader.next())
                if options is None:
                    options = {}
            elif key in roles:
                layer = _read_layer(reader, key, inputs)
                if layer is not None:
                    layers[key] = layer
            else:
                fields = ", ".join([*roles, "options"])
                raise reader.error(f"unknown field; the fields are {fields}")
        reader.end()
    for role in REQUIRED[kind]:
        if role not in layers:
            raise BodyError(role, "required: a GeoJSON FeatureCollection")
    if not isinstance(options, dict):
        raise BodyError("options", "must be an object")
    checked = validate_options(_OPTIONS[kind], options)
    epsg = checked["input_crs"]
    try:
        crs = input_crs(epsg)
    except CRSError as err:
        raise BodyError("options.input_crs", str(err)) from None
    spec = {}
    for role, (layer, file) in layers.items():
        x0, y0, x1, y1 = layer.bounds
        far = max(abs(x0), abs(x1)) > 360 or max(abs(y0), abs(y1)) > 90
        if crs.is_geographic and np.isfinite(layer.bounds).all() and far:
            raise BodyError(
                role,
                f"coordinates are not longitudes/latitudes (EPSG:{epsg}); give the EPSG code "
                "of your coordinates as options.input_crs",
            )
        spec[role] = {"format": "geojson", "file": file, "layer": None, "epsg": epsg}
    return spec, checked


def validate_options(
    model: type[BaseModel], data: dict[str, Any], *, prefix: str = "options"
) -> dict[str, Any]:
    """Options checked by their model, and every number in them finite.

    Raises :class:`BodyError` naming the refused fields (``options.target``).
    """
    try:
        checked = model.model_validate(data).model_dump(mode="json")
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False)
        named = [(".".join([prefix, *map(str, e["loc"])]), e["msg"]) for e in errors]
        more = "".join(f"; {field}: {msg}" for field, msg in named[1:])
        raise BodyError(named[0][0], named[0][1] + more) from None
    for key, value in checked.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BodyError(f"{prefix}.{key}", "not a finite number; send a finite number")
    return checked
