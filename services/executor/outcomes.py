"""Mapping what happened in an attempt to a result status (one place, pure)."""

from __future__ import annotations

from typing import Any

from services.executor.cancel import RunCancelled
from services.executor.handlers.base import HandlerError


def status_for(exc: BaseException | None) -> str:
    """``None`` → succeeded, TimeoutError → timed_out, a cancel request → cancelled,
    anything else → failed."""
    if exc is None:
        return "succeeded"
    if isinstance(exc, RunCancelled):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return "timed_out"
    return "failed"


def error_for(exc: BaseException | None, timeout_s: float) -> dict[str, Any] | None:
    """The wire ``error`` map for an exception (None on success)."""
    if exc is None:
        return None
    if isinstance(exc, TimeoutError):
        return {"type": "TimeoutError", "message": f"timed out after {timeout_s:g} s"}
    if isinstance(exc, RunCancelled):
        return {"type": "Cancelled", "message": str(exc)}
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__}


def message_for(exc: BaseException | None, timeout_s: float) -> str:
    """A one-line message for a failed attempt."""
    err = error_for(exc, timeout_s)
    return "" if err is None else err["message"]


def details_for(exc: BaseException | None) -> dict[str, Any]:
    """Details a HandlerError carried, else nothing."""
    return dict(exc.details) if isinstance(exc, HandlerError) else {}


def after_rollback(status: str) -> str:
    """The status of a failed run whose changes were restored automatically."""
    return "rolled_back" if status in ("failed", "timed_out") else status
