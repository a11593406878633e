"""Windows and calendars: their definitions, whether each is open now, next open/close."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic_core import to_jsonable_python
from typing_extensions import TypedDict

from services.api.routing import Call, Route
from shared.config.catalog import Catalog
from shared.contract.running import live_bound
from shared.timing.calendars import Calendar
from shared.timing.windows import Window


class OpenState(TypedDict):
    """A window's or a calendar's state at ``now``."""

    name: str
    timezone: str
    open_now: bool
    closes_at: str | None
    next_open: str | None
    definition: dict[str, Any]


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def window_state(window: Window, spec: dict[str, Any], now: datetime) -> OpenState:
    """Whether ``window`` is open at ``now``, when it closes, when it opens next."""
    end = window.current_end(now)
    return OpenState(name=window.name, timezone=str(window.timezone), open_now=end is not None,
                     closes_at=_iso(end), next_open=_iso(window.next_start(now)),
                     definition=to_jsonable_python(spec))  # fmt: skip


def calendar_state(calendar: Calendar, spec: dict[str, Any], now: datetime) -> OpenState:
    """Whether ``calendar`` is in a session at ``now``, its next close and open."""
    is_open = calendar.is_open(now)
    return OpenState(name=calendar.name, timezone=str(calendar.timezone), open_now=is_open,
                     closes_at=_iso(calendar.next_close(now)) if is_open else None,
                     next_open=_iso(calendar.next_open(now)),
                     definition=to_jsonable_python(spec))  # fmt: skip


async def list_windows(call: Call) -> web.Response:
    """Every maintenance window, open now or not, with the runs inside it now."""
    catalog, now = Catalog.from_config(call.config), call.clock.now()
    names = sorted(catalog.windows)
    live = await live_bound(call.r)
    async with call.r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcount(call.keys.window_running(name), live, "+inf")
        running = await pipe.execute()
    items = [
        {**window_state(catalog.windows[n], call.config.windows[n], now), "running": count,
         "max_concurrent": catalog.windows[n].max_concurrent}
        for n, count in zip(names, running, strict=True)
    ]  # fmt: skip
    return web.json_response({"now": now.isoformat(), "windows": items})


async def list_calendars(call: Call) -> web.Response:
    """Every calendar (sessions, holidays, early closes), in session now or not."""
    catalog, now = Catalog.from_config(call.config), call.clock.now()
    items = [calendar_state(catalog.calendars[n], call.config.calendars[n], now)
             for n in sorted(catalog.calendars)]  # fmt: skip
    return web.json_response({"now": now.isoformat(), "calendars": items})


ROUTES = (
    Route(method="GET", path="/api/v1/windows", handler=list_windows, tag="windows",
          summary="Maintenance windows: open now, next open and close"),
    Route(method="GET", path="/api/v1/calendars", handler=list_calendars, tag="windows",
          summary="Calendars: in session now, next open and close"),
)  # fmt: skip
