"""Status badges: ``/api/v1/tasks/{task}/badge.svg``, shields-style, for READMEs and
wall screens (open without a token only when ``api.public_badges`` is on)."""

from __future__ import annotations

from html import escape
from typing import Final

from aiohttp import web

from services.api.routes.tasks import require_task
from services.api.routing import Call, Route
from shared.contract.readmodel import ScheduleState

COLOURS: Final = {
    "succeeded": "#4c1", "failed": "#e05d44", "timed_out": "#e05d44",
    "dead_lettered": "#e05d44", "rolled_back": "#fe7d37", "skipped": "#9f9f9f",
    "cancelled": "#9f9f9f",
}  # fmt: skip
PAUSED_COLOUR: Final = "#dfb317"
UNKNOWN_COLOUR: Final = "#9f9f9f"
CHAR_PX: Final = 7
"""Approximate width of one character of 11 px Verdana (shields' font)."""


def age(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago, in one unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def badge_text(state: ScheduleState, now: float) -> tuple[str, str]:
    """The right-hand text and colour: last outcome and its age, or paused/never run."""
    if state.paused:
        return "paused", PAUSED_COLOUR
    if state.last_status is None or state.last_run_at is None:
        return "never run", UNKNOWN_COLOUR
    text = f"{state.last_status.replace('_', ' ')} {age(now - state.last_run_at)} ago"
    return text, COLOURS.get(state.last_status, UNKNOWN_COLOUR)


def svg(label: str, value: str, colour: str) -> str:
    """A flat shields-style badge."""
    lw, vw = 10 + CHAR_PX * len(label), 10 + CHAR_PX * len(value)
    label, value = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + vw}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        f'<rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{vw}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{lw / 2}" y="14">{label}</text>'
        f'<text x="{lw + vw / 2}" y="14">{value}</text></g></svg>'
    )


async def task_badge(call: Call) -> web.Response:
    """The task's last outcome and its age as an SVG badge."""
    name = call.path("task")
    await require_task(call.r, call.keys, name)
    state = ScheduleState.from_fields(await call.r.hgetall(call.keys.schedule_state(name)))
    value, colour = badge_text(state, call.clock.time())
    return web.Response(text=svg(name, value, colour), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-cache, max-age=0"})  # fmt: skip


ROUTES = (
    Route(method="GET", path="/api/v1/tasks/{task}/badge.svg", handler=task_badge,
          tag="tasks", summary="Status badge (SVG)", content_type="image/svg+xml",
          response=str, public=lambda config: config.api.public_badges),
)  # fmt: skip
