"""Alerts: the active ones, the transition log, acknowledge and silence (operator).

Thin handlers over the alert store's shared readers and actions
(:mod:`shared.contract.alerts`, the same the CLI uses); the reporter owns raising and
resolving. Acknowledging stops reminders (announced as ``alert.acknowledged``);
silencing holds back every announcement of the key until the silence ends.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from services.api.errors import NotFound
from services.api.routing import BodyModel, Call, Limit, QueryModel, Route
from shared.config.models import Duration
from shared.contract import alerts
from shared.contract.readmodel import AlertRecord

MAX_SILENCE_S = 30 * 86400.0


class AlertsQuery(QueryModel):
    """``resolved``: also the recently resolved alerts still kept (newest first, after
    the active ones)."""

    resolved: bool = False


class LogQuery(QueryModel):
    """How many log entries (newest first)."""

    count: Limit = 100


class SilenceBody(BodyModel):
    """How long to silence (``30m``, ``2h``, ``1d`` or seconds; at most 30 days)."""

    for_: Annotated[Duration, Field(gt=0, le=MAX_SILENCE_S)] = Field(alias="for")


def _found(record: AlertRecord | None, key: str) -> dict[str, Any]:
    if record is None:
        raise NotFound(f"no active alert {key!r}", details={"key": key})
    return record.as_dict()


async def list_alerts(call: Call) -> web.Response:
    """Every active alert, most severe first, then oldest first (then, with ``resolved``,
    the recently resolved ones, newest first)."""
    found = await alerts.active(call.r, call.keys)
    if call.q(AlertsQuery).resolved:
        found += await alerts.resolved(call.r, call.keys)
    return web.json_response({"items": [a.as_dict() for a in found]})


async def alert_log(call: Call) -> web.Response:
    """What happened to alerts (raised, resolved, acknowledged, silenced…), newest first."""
    count = call.q(LogQuery).count
    return web.json_response({"items": await alerts.history(call.r, call.keys, count)})


async def ack_alert(call: Call) -> web.Response:
    """Acknowledge an active alert (operator): its reminders stop."""
    key = call.path("key")
    done = await alerts.acknowledge(call.r, call.keys, key, by=call.who, now=call.clock.time())
    return web.json_response(_found(done, key))


async def silence_alert(call: Call) -> web.Response:
    """Silence an active alert for a while (operator): no announcement until it ends."""
    key, now = call.path("key"), call.clock.time()
    until = now + call.b(SilenceBody).for_
    done = await alerts.silence(call.r, call.keys, key, until=until, by=call.who, now=now)
    return web.json_response(_found(done, key))


_A = "/api/v1/alerts"
ROUTES = (
    Route(method="GET", path=_A, handler=list_alerts, tag="alerts",
          summary="Active alerts (and recently resolved ones)", query=AlertsQuery),
    Route(method="GET", path=_A + "/log", handler=alert_log, tag="alerts",
          summary="Alert transitions, newest first", query=LogQuery),
    Route(method="POST", path=_A + "/{key}/ack", handler=ack_alert, tag="alerts",
          summary="Acknowledge an active alert", role="operator"),
    Route(method="POST", path=_A + "/{key}/silence", handler=silence_alert, tag="alerts",
          summary="Silence an active alert for a duration", role="operator", body=SilenceBody),
)  # fmt: skip
