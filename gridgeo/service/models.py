"""Request and response bodies of the HTTP service (pydantic models: the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ._rules import rule_model

__all__ = [
    "AuditOptions",
    "AuditRequest",
    "AuditUploadForm",
    "Feature",
    "FeatureCollection",
    "Geometry",
    "Health",
    "JobError",
    "JobList",
    "JobStatus",
    "PartitionOptions",
    "PartitionRequest",
    "PartitionUploadForm",
    "ResultLink",
]


def _name() -> Any:
    return Field(default=None, min_length=1, max_length=200)


EPSG = {
    "default": None,
    "ge": 1024,
    "le": 999_999,
    "description": "EPSG code of the metric CRS to compute in (default: CGCS2000 3° zone in China, UTM elsewhere)",
}
INPUT_EPSG = {
    "default": 4326,
    "ge": 1024,
    "le": 999_999,
    "description": "EPSG code of the coordinates of GeoJSON bodies (RFC 7946: 4326, longitude/latitude)",
}
MAX_FEATURES = 2_000_000


class Geometry(BaseModel):
    """A GeoJSON geometry (RFC 7946)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
    coordinates: list[Any]


class Feature(BaseModel):
    """A GeoJSON feature: a geometry and its properties (the attribute columns)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"]
    geometry: Geometry | None
    properties: dict[str, Any] | None = None
    id: str | int | None = None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection: one layer."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["FeatureCollection"]
    features: list[Feature] = Field(max_length=MAX_FEATURES)


class _Common(BaseModel):
    target: float = Field(default=300, gt=0, le=1_000_000, description="households per grid")
    tolerance: float = Field(
        default=0.1, ge=0, lt=1, description="accepted relative deviation from the target"
    )
    households_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="column of the buildings with households per building",
    )
    crs: int | None = Field(**EPSG)
    input_crs: int = Field(**INPUT_EPSG)
    lang: Literal["en", "zh"] = Field(default="en", description="language of the map")
    map: bool = Field(default=True, description="draw the HTML map")


PartitionOptions = rule_model(
    "PartitionOptions",
    "Options of a partition job: every planning rule (:class:`gridgeo.rules.Rules`), "
    "the seed, the coordinates' EPSG code and the map.",
    random_state=(int, Field(default=0, ge=0, le=2**32 - 1, description="seed")),
    input_crs=(int, Field(**INPUT_EPSG)),
    lang=(Literal["en", "zh"], Field(default="en", description="language of the map")),
    map=(bool, Field(default=True, description="draw the HTML map")),
)


class AuditOptions(_Common):
    """Options of an audit job (as :func:`gridgeo.audit.audit`)."""

    model_config = ConfigDict(extra="forbid")

    grid_id: str | None = _name()
    grid_type: str | None = _name()
    building_id: str | None = _name()
    boundary_id: str | None = _name()
    study_area: Literal["filled", "hull"] = "filled"
    min_area: float = Field(default=1.0, ge=0, le=1e9)
    sliver_width: float = Field(default=1.0, ge=0, le=1e4)
    split_share: float = Field(default=0.05, ge=0, le=0.5)
    zone_distance: float = Field(default=20.0, gt=0, le=1e4)
    frontage_depth: float | None = Field(default=None, gt=0, le=1e3)


class PartitionRequest(BaseModel):
    """A partition job: layers as GeoJSON FeatureCollections, and options."""

    model_config = ConfigDict(extra="forbid")

    streets: FeatureCollection = Field(description="street lines")
    buildings: FeatureCollection | None = Field(default=None, description="building footprints")
    boundaries: FeatureCollection | None = Field(
        default=None, description="community polygons: grids never cross them"
    )
    population: FeatureCollection | None = Field(
        default=None, description="population grid (people per cell)"
    )
    barriers: FeatureCollection | None = Field(
        default=None, description="railways, rivers, water: no grid crosses them"
    )
    dedicated: FeatureCollection | None = Field(
        default=None, description="zones that become grids of their own"
    )
    pois: FeatureCollection | None = Field(default=None, description="points of interest")
    options: PartitionOptions = Field(default_factory=PartitionOptions)


class AuditRequest(BaseModel):
    """An audit job: the plan's grids, the buildings, optional layers, options."""

    model_config = ConfigDict(extra="forbid")

    grids: FeatureCollection = Field(description="the grids of the plan to audit")
    buildings: FeatureCollection = Field(description="building footprints")
    streets: FeatureCollection | None = Field(
        default=None, description="street lines (for street-front zones)"
    )
    pois: FeatureCollection | None = Field(default=None, description="shops and services")
    boundaries: FeatureCollection | None = Field(default=None, description="community polygons")
    options: AuditOptions = Field(default_factory=AuditOptions)


def _layer(what: str) -> Any:
    return Field(
        default=None,
        max_length=200,
        description=f"layer of the upload holding the {what} (default: the layer of that name)",
    )


PartitionUploadForm = create_model(
    "PartitionUploadForm",
    __base__=PartitionOptions,
    __config__=None,
    streets_layer=(str | None, _layer("streets")),
    buildings_layer=(str | None, _layer("buildings")),
    boundaries_layer=(str | None, _layer("boundaries")),
    population_layer=(str | None, _layer("population grid")),
    barriers_layer=(str | None, _layer("barriers")),
    dedicated_layer=(str | None, _layer("dedicated zones")),
    pois_layer=(str | None, _layer("points of interest")),
)
PartitionUploadForm.__doc__ = (
    "Form fields of a partition upload: the options and which layer plays which part."
)
PartitionUploadForm.model_config["extra"] = "ignore"
PartitionUploadForm.model_rebuild(force=True)


class AuditUploadForm(AuditOptions):
    """Form fields of an audit upload: the options and which layer plays which part."""

    model_config = ConfigDict(extra="ignore")

    grids_layer: str | None = _layer("grids")
    buildings_layer: str | None = _layer("buildings")
    streets_layer: str | None = _layer("streets")
    pois_layer: str | None = _layer("points of interest")
    boundaries_layer: str | None = _layer("boundaries")


class JobError(BaseModel):
    """Why a job failed: the gridgeo error class and its message (what to fix)."""

    type: str
    message: str


class ResultLink(BaseModel):
    """One result file of a finished job."""

    name: Literal["geojson", "gpkg", "map", "summary", "csv"]
    url: str
    media_type: str
    bytes: int


class JobStatus(BaseModel):
    """A job: its state, progress (0–1), and when finished its summary and results."""

    id: str
    kind: Literal["partition", "audit"]
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: float = Field(ge=0, le=1)
    stage: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: JobError | None = None
    summary: dict[str, Any] | None = None
    results: list[ResultLink] = Field(default_factory=list)


class JobList(BaseModel):
    """Jobs, newest first."""

    jobs: list[JobStatus]
    counts: dict[str, int]


class Health(BaseModel):
    """What the service is doing; ``stalled`` and ``down`` are answered with 503.

    ``ok``: jobs are taken as they come; ``busy``: every worker is running a job and
    others wait; ``stalled``: jobs have waited longer than a minute although a worker is
    free and none has been taken meanwhile; ``down``: the job runner is not running.
    """

    status: Literal["ok", "busy", "stalled", "down"]
    version: str
    jobs: dict[str, int] = Field(description="jobs by status, in the whole store")
    runner_alive: bool = Field(description="the job runner of this server is running")
    workers: int = Field(description="jobs this server runs at the same time (--workers)")
    workers_busy: int = Field(description="job processes running now on this server")
    running: int = Field(description="jobs running (all servers of the store)")
    queued: int = Field(description="jobs waiting")
    oldest_queued_seconds: float | None = Field(
        description="how long the oldest waiting job has waited"
    )
    last_start_seconds: float | None = Field(description="seconds since a job was last started")
    detail: str | None = None
