"""The service's OpenAPI schema: error answers, JSON request bodies, the job models.

The JSON submissions read their body themselves (streamed to disk, see
:mod:`gridgeo.service.body`), so FastAPI does not see their models: :func:`json_body`
declares the request body and :func:`install_openapi` adds the models
(:class:`~gridgeo.service.models.PartitionRequest`,
:class:`~gridgeo.service.models.AuditRequest`) to the schema's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .models import AuditRequest, PartitionRequest

__all__ = ["AUTH_ERRORS", "SUBMIT_ERRORS", "error_response", "install_openapi", "json_body"]


def error_response(description: str) -> dict[str, Any]:
    """An error answer in the schema: a JSON object with a ``detail``.

    Examples
    --------
    >>> error_response("no such job")["content"]["application/json"]["schema"]["required"]
    ['detail']
    """
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {}},
                    "required": ["detail"],
                }
            }
        },
    }


#: The answer of every route that needs the token.
AUTH_ERRORS = {401: error_response("missing or wrong API token")}

#: The error answers of a submission.
SUBMIT_ERRORS = {
    **AUTH_ERRORS,
    413: error_response("request body over the size limit, or zip archive unpacking too large"),
    415: error_response("neither JSON nor, for uploads, a GeoPackage or a zip archive"),
    422: error_response("invalid request: the detail names the field and says how to fix it"),
    503: error_response("too many jobs waiting; retry later"),
}


def json_body(model: type) -> dict[str, Any]:
    """A route's ``openapi_extra``: a required JSON body of ``model`` (a component).

    Examples
    --------
    >>> json_body(PartitionRequest)["requestBody"]["content"]["application/json"]
    {'schema': {'$ref': '#/components/schemas/PartitionRequest'}}
    """
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def install_openapi(app: FastAPI) -> None:
    """Make ``app``'s schema (built once, on first use) hold the job request models.

    Parameters
    ----------
    app : fastapi.FastAPI
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (PartitionRequest, AuditRequest):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(js.pop("$defs", {}))
        components[model.__name__] = js
    return schema
