"""Every Config API error is ``{"code", "message"}`` (plus ``errors`` for validation)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shoal.control.repo import Conflict, NotFound


class ApiError(HTTPException):
    """An error answer with a stable machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, {"code": code, "message": message}, headers)


def _body(detail: Any, status: int) -> dict[str, Any]:
    if isinstance(detail, dict) and "code" in detail:
        return detail
    return {"code": f"http_{status}", "message": str(detail)}


def install_error_handlers(app: FastAPI) -> None:
    """Map exceptions to ``{"code", "message"}`` answers."""

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(_body(exc.detail, exc.status_code), exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err.get("loc", ())),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"code": "invalid_request", "message": summary, "errors": errors}, 422)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"code": "not_found", "message": str(exc)}, 404)

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"code": "conflict", "message": str(exc)}, 409)

    @app.exception_handler(ValueError)
    async def bad_value(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"code": "invalid_request", "message": str(exc)}, 422)
