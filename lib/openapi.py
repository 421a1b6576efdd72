"""Every error a route can answer, in its OpenAPI description, generated from the error classes.

An endpoint names what its service raises with `@raises(...)`; dependencies name theirs the
same way (a Bearer token's errors, the database's 503), so a route's list is its endpoint's
plus every dependency's. `describe_errors` adds them to the document with one error schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from lib.errors import AuthError, MalformedBody, PayloadTooLarge

F = TypeVar("F", bound=Callable[..., Any])
_RAISES = "__raises__"
_GRANT_REQUESTS = "__grant_requests__"


class ErrorBody(BaseModel):
    """The body of every error but FastAPI's 422 validation body."""

    detail: str
    code: str
    error: str | None = None  # RFC 6749 5.2, on the token endpoints
    error_description: str | None = None


def raises(*errors: type[AuthError]) -> Callable[[F], F]:
    """Mark an endpoint or a dependency with the errors it can answer."""

    def mark(function: F) -> F:
        setattr(function, _RAISES, (*getattr(function, _RAISES, ()), *errors))
        return function

    return mark


def parses_grant_requests[G: Callable[..., Any]](function: G) -> G:
    """Mark the dependency that reads standard token requests: a 401 its route can answer is
    answered 400 to a request that names its `grant_type` (`lib.oauth.grant_errors`), so the
    route declares it under both."""
    setattr(function, _GRANT_REQUESTS, True)
    return function


def _reads_grant_requests(dependant: Dependant) -> bool:
    return getattr(dependant.call, _GRANT_REQUESTS, False) or any(
        _reads_grant_requests(dependency) for dependency in dependant.dependencies
    )


def _dependency_errors(dependant: Dependant) -> Iterable[type[AuthError]]:
    yield from getattr(dependant.call, _RAISES, ())
    for dependency in dependant.dependencies:
        yield from _dependency_errors(dependency)


def route_errors(route: APIRoute) -> set[type[AuthError]]:
    errors = set(_dependency_errors(route.dependant))
    if route.body_field is not None or (route.openapi_extra and "requestBody" in route.openapi_extra):
        errors |= {PayloadTooLarge, MalformedBody}
    return errors


def route_statuses(route: APIRoute) -> set[tuple[int, type[AuthError]]]:
    """Each error of the route with each status it answers with."""
    errors = route_errors(route)
    answered = {(error.status_code, error) for error in errors}
    if _reads_grant_requests(route.dependant):
        answered |= {(400, error) for error in errors if error.status_code == 401}
    return answered


def _responses(answered: Iterable[tuple[int, type[AuthError]]]) -> dict[str, dict[str, Any]]:
    by_status: dict[int, list[type[AuthError]]] = {}
    for status, error in sorted(set(answered), key=lambda pair: (pair[0], pair[1].code)):
        by_status.setdefault(status, []).append(error)
    return {
        str(status): {
            "description": "; ".join(dict.fromkeys(f"`{error.code}`: {error.detail}" for error in listed)),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for status, listed in by_status.items()
    }


_VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}


def describe_errors(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Add the error responses of each route of `routers` to the app's OpenAPI document when it
    is first built."""
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for route in routes:
            if not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format].get(method.lower())
                if operation is None:
                    continue
                for status, response in _responses(route_statuses(route)).items():
                    operation["responses"].setdefault(status, response)
                if route.openapi_extra and "requestBody" in route.openapi_extra:
                    # A body parsed by the route itself (the token endpoint's form or JSON): its
                    # schema errors are FastAPI's 422, which FastAPI cannot see to declare.
                    operation["responses"].setdefault("422", _VALIDATION_ERROR)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        if "HTTPValidationError" not in schemas:
            schemas.update(_validation_error_schemas())
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _validation_error_schemas() -> dict[str, Any]:
    """FastAPI's own 422 schemas, for an app whose routes all parse their bodies themselves."""
    from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition

    return {"ValidationError": validation_error_definition, "HTTPValidationError": validation_error_response_definition}
