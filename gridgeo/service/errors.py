"""The service's error answers: JSON ``{"detail": ...}`` naming the field at fault.

:func:`install_error_handlers` gives an application the handlers: 422 for an invalid
request (the detail names each field and what is wrong with it), for a
:class:`~gridgeo.service.body.BodyError` and for a :class:`~gridgeo._errors.GridgeoError`;
an :class:`~gridgeo.service.security.UploadError`'s own status (413, 415, 422); 503 with
``Retry-After`` when the job store is unavailable.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .._errors import GridgeoError
from .body import BodyError
from .security import UploadError
from .store import StoreUnavailable

__all__ = ["install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    """Answer the service's errors as JSON with a ``detail``.

    Parameters
    ----------
    app : fastapi.FastAPI
    """
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(BodyError, _body_error)
    app.add_exception_handler(UploadError, _upload_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(GridgeoError, _gridgeo_error)


def field_name(loc: tuple[Any, ...]) -> str:
    """The field at ``loc`` (a validation error's location), dotted, without ``body``.

    Examples
    --------
    >>> field_name(("body", "options", "band", 0))
    'options.band.0'
    >>> field_name(("body",))
    'body'
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    # the errors' inputs are left out: they may hold what JSON cannot carry (NaN)
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg")),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    named = [f"{field_name(tuple(e['loc']))}: {e['msg']}" for e in errors] or ["invalid request"]
    field = field_name(tuple(errors[0]["loc"])) if errors else "body"
    return JSONResponse({"detail": "; ".join(named), "field": field, "errors": errors}, 422)


async def _body_error(_request: Request, exc: BodyError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": exc.field, "error": "BodyError"}, 422)


async def _upload_error(_request: Request, exc: UploadError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, exc.status)


async def _store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
    body = {"detail": f"{exc}; retry later", "error": "StoreUnavailable"}
    return JSONResponse(body, 503, headers={"Retry-After": "5"})


async def _gridgeo_error(_request: Request, exc: GridgeoError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, 422)
