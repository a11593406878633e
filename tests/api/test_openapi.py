"""The OpenAPI document against the real router: no undocumented route, no documented
route missing, and the document is a valid OpenAPI 3.1 description."""

from __future__ import annotations

import re

import schemathesis
from aiohttp import web
from schemathesis.core.result import Ok

from services.api.app import create_app
from services.api.routes.health import OPENAPI
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.redis import Redis
from tests.api.support import running_api


def _router_operations(app: web.Application) -> set[tuple[str, str]]:
    ops = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):  # aiohttp adds HEAD for every GET
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        ops.add((route.method.lower(), re.sub(r"\{([^}:]+):[^}]*\}", r"{\1}", str(path))))
    return ops


def test_the_document_matches_the_router_exactly(r: Redis) -> None:
    app = create_app(r, Config())
    doc = app[OPENAPI]
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}  # type: ignore[attr-defined]
    assert documented == _router_operations(app)
    assert len(documented) >= 30


def test_schemathesis_reads_every_operation(r: Redis) -> None:
    schema = schemathesis.openapi.from_dict(create_app(r, Config())[OPENAPI])
    results = list(schema.get_all_operations())
    assert len(results) >= 30
    assert all(isinstance(result, Ok) for result in results), [
        result for result in results if not isinstance(result, Ok)
    ]


async def test_served_at_api_v1_openapi_json_with_roles_and_errors(r: Redis, keys: Keys) -> None:
    async with running_api(r, keys) as api:
        status, doc, _ = await api.call("GET", "/api/v1/openapi.json", role=None)
    assert status == 200
    run_now = doc["paths"]["/api/v1/runs"]["post"]
    assert run_now["x-role"] == "operator"
    assert run_now["security"] == [{"bearer": []}]
    assert {"202", "400", "401", "403", "503"} <= set(run_now["responses"])
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    params = {p["name"] for p in doc["paths"]["/api/v1/runs"]["get"]["parameters"]}
    assert params == {"task", "status", "since", "before", "limit"}
