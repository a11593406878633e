"""Rollback points: list, show, verify, restore with a reason, prune.

The API reads and restores points itself (``shared.runtime.rollbacks``): it must run on
the host that holds ``executor.rollback_dir``, as the CLI must.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field
from typing_extensions import TypedDict

from services.api.errors import Conflict, NotFound
from services.api.routing import BodyModel, Call, Limit, QueryModel, Route
from shared.config.models import Duration
from shared.runtime.rollbacks import (
    PointStore,
    RollbackError,
    RollbackIntegrityError,
    RollbackNotFound,
    RollbackPoint,
)


class ListQuery(QueryModel):
    """How many points, newest first."""

    limit: Limit = 50


class RestoreBody(BodyModel):
    """Why the files are put back (recorded with the point and in the log)."""

    reason: str = Field(min_length=1, max_length=500)


class PruneBody(BodyModel):
    """Limits to prune by; each absent one is the config's (``executor.rollback_max_*``)."""

    max_age: Duration | None = None
    max_count: int | None = Field(None, ge=1)
    max_bytes: int | None = Field(None, ge=0)


class Pruned(TypedDict):
    """The points deleted, oldest first."""

    removed: list[str]


class Verified(TypedDict):
    """A point's integrity: ``ok`` when every preserved file matches its checksum."""

    id: str
    ok: bool
    problems: list[str]


class Restored(TypedDict):
    """What a restore put back and removed."""

    id: str
    restored: list[str]
    removed: list[str]
    reason: str


def _store(call: Call) -> PointStore:
    return PointStore(call.r, call.keys, Path(call.config.executor.rollback_dir), call.clock)


def point_view(p: RollbackPoint, restored: dict[str, Any] | None = None) -> dict[str, Any]:
    """A point as JSON: its run, files (path, size, sha256) and git state."""
    files = [{"path": f.path, "existed": f.existed, "size": f.size, "sha256": f.sha256}
             for f in p.files]  # fmt: skip
    return {"id": p.id, "task": p.task, "run_id": p.run_id, "created_at": p.created_at,
            "total_bytes": p.total_bytes, "files": files, "git": p.git,
            **(restored or {})}  # fmt: skip


async def _call_store(coro: Any) -> Any:
    try:
        return await coro
    except RollbackNotFound as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    except RollbackIntegrityError as exc:
        raise Conflict(str(exc), details={"problems": exc.problems}) from None
    except RollbackError as exc:
        raise Conflict(str(exc)) from None


async def list_rollbacks(call: Call) -> web.Response:
    """Rollback points, newest first."""
    points = await _call_store(_store(call).list(call.q(ListQuery).limit))
    return web.json_response({"items": [point_view(p) for p in points]})


async def get_rollback(call: Call) -> web.Response:
    """One point, with when, why and by whom it was last restored."""
    store, point_id = _store(call), call.path("id")
    point = await _call_store(store.get(point_id))
    if point is None:
        raise NotFound(f"no rollback point {point_id!r}", details={"id": point_id})
    return web.json_response(point_view(point, await store.restored(point_id)))


async def verify_rollback(call: Call) -> web.Response:
    """Check a point's preserved files against their sha256."""
    point_id = call.path("id")
    problems = await _call_store(_store(call).verify(point_id))
    return web.json_response(Verified(id=point_id, ok=not problems, problems=problems))


async def restore_rollback(call: Call) -> web.Response:
    """Put a point's files back (operator); 409 when verification fails."""
    point_id, reason = call.path("id"), call.b(RestoreBody).reason
    report = await _call_store(_store(call).restore(point_id, reason=reason, by=call.who))
    return web.json_response(Restored(id=point_id, restored=list(report.restored),
                                      removed=list(report.removed), reason=reason))  # fmt: skip


async def prune_rollbacks(call: Call) -> web.Response:
    """Delete points by age, count and total size (operator; oldest first, the newest
    stays)."""
    body, limits = call.b(PruneBody), call.config.executor
    removed = await _call_store(_store(call).prune(
        max_age_s=limits.rollback_max_age if body.max_age is None else body.max_age,
        max_count=limits.rollback_max_points if body.max_count is None else body.max_count,
        max_total_bytes=limits.rollback_max_bytes if body.max_bytes is None else body.max_bytes,
    ))  # fmt: skip
    return web.json_response(Pruned(removed=removed))


_RB = "/api/v1/rollbacks"
ROUTES = (
    Route(method="GET", path=_RB, handler=list_rollbacks, tag="rollbacks",
          summary="Rollback points (newest first)", query=ListQuery),
    Route(method="POST", path=_RB + "/prune", handler=prune_rollbacks, tag="rollbacks",
          summary="Delete points by age, count and total size", role="operator",
          body=PruneBody, response=Pruned),
    Route(method="GET", path=_RB + "/{id}", handler=get_rollback, tag="rollbacks",
          summary="One rollback point"),
    Route(method="POST", path=_RB + "/{id}/verify", handler=verify_rollback, tag="rollbacks",
          summary="Verify a point's checksums", response=Verified, errors=(409,)),
    Route(method="POST", path=_RB + "/{id}/restore", handler=restore_rollback, tag="rollbacks",
          summary="Restore a point's files", role="operator", body=RestoreBody,
          response=Restored, errors=(409,)),
)  # fmt: skip
