"""The OpenAPI 3.1 document, generated from the route table (the router's own source).

Query and body schemas come from the routes' pydantic models, success bodies from their
``response`` types; every error shares the one ``Error`` schema.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import TypeAdapter

from services.api.routing import Route

REF: Final = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERRORS: Final = {
    400: "Invalid request (the message names the field)",
    401: "No or unknown bearer token",
    403: "The token's role is too weak",
    404: "Not found",
    409: "Conflicts with the current state",
    503: "Redis is unavailable (Retry-After says when to try again)",
}
DESCRIPTION: Final = (
    'Schedule, run and watch maintenance tasks. Errors are `{"error": {"code", "message", '
    '"details"}}`; `x-role` on an operation is the least role its bearer token needs.'
)
ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["invalid_field", "not_found"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def document(routes: Sequence[Route], *, version: str) -> dict[str, Any]:
    """The whole document for ``routes``."""
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PATH_PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Watchkeeper API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
        "parameters": _path_params(route) + _query_params(route, schemas),
        "responses": _responses(route, schemas),
        "security": [] if route.role is None else [{"bearer": []}],
    }  # fmt: skip
    if route.role is not None:
        op["x-role"] = route.role
    if route.body is not None:
        schema = _schema(route.body, schemas)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def _path_params(route: Route) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]


def _query_params(route: Route, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if route.query is None:
        return []
    schema = route.query.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop,
         **({"description": prop["description"]} if "description" in prop else {})}
        for name, prop in schema.get("properties", {}).items()
    ]  # fmt: skip


def _responses(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {}}
    if route.response is not None:
        content = {"schema": _schema(route.response, schemas)}
    out: dict[str, Any] = {
        str(route.status): {"description": "Success", "content": {route.content_type: content}}
    }
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    for status in _error_statuses(route):
        out[str(status)] = {"description": _ERRORS[status], "content": error}
    return out


def _error_statuses(route: Route) -> list[int]:
    statuses = {503, *route.errors}
    if route.query is not None or route.body is not None:
        statuses.add(400)
    if route.role is not None:
        statuses |= {401, 403}
    if "{" in route.path:
        statuses.add(404)
    return sorted(statuses)


def _schema(kind: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(kind).json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    title = schema.get("title")
    if isinstance(title, str) and schema.get("type") == "object":
        schemas[title] = schema
        return {"$ref": REF.format(model=title)}
    return schema
