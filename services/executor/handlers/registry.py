"""The handler registry: built-ins, the ``@handler`` decorator and entry points.

Third-party packages register handlers under the entry-point group
``watchkeeper.handlers``; each entry point names a module (importing it runs its
``@handler`` decorators) or a :class:`HandlerSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from services.executor.handlers.base import ParamsError, PlanFn, RunFn
from shared.runtime.logging import get_logger

ENTRY_POINT_GROUP: Final = "watchkeeper.handlers"
BUILTIN_MODULES: Final = (
    "services.executor.handlers.health",
    "services.executor.handlers.command",
    # filesystem maintenance
    "services.executor.handlers.data_cleanup",
    "services.executor.handlers.log_rotation",
    "services.executor.handlers.backup",
    "services.executor.handlers.restore",
    # systems maintenance
    "services.executor.handlers.cache_cleanup",
    "services.executor.handlers.database_maintenance",
    "services.executor.handlers.security_audit",
    "services.executor.handlers.quality_check",
    "services.executor.handlers.http_request",
    # Watchkeeper's own data
    "services.executor.handlers.retention",
)

log = get_logger("watchkeeper.handlers")


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler: its run function, params model and optional planner."""

    name: str
    run: RunFn
    params: type[BaseModel] | None = None
    plan: PlanFn | None = None
    changes_files: bool = False

    def parse_params(self, raw: dict[str, Any]) -> Any:
        """Validate ``raw`` against the params model; :class:`ParamsError` names the field."""
        if self.params is None:
            return raw
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "".join(f".{p}" for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ParamsError(f"params{where}: {message}") from None


_REGISTRY: dict[str, HandlerSpec] = {}
_loaded = False


def handler(
    name: str, *, params: type[BaseModel] | None = None, plan: PlanFn | None = None
) -> Callable[[RunFn], RunFn]:
    """Register ``async def fn(ctx, params) -> Outcome`` as handler ``name``."""

    def register(fn: RunFn) -> RunFn:
        _REGISTRY[name] = HandlerSpec(name, fn, params, plan, changes_files=plan is not None)
        return fn

    return register


def register(spec: HandlerSpec) -> None:
    """Register a ready-made spec (replaces one of the same name)."""
    _REGISTRY[spec.name] = spec


def load_all() -> None:
    """Import built-in handler modules and entry points once; a broken plugin is logged."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a plugin must not take the executor down
            log.error("handler.plugin_failed", entry_point=ep.name, error=str(exc))
            continue
        if isinstance(loaded, HandlerSpec):
            register(loaded)


def load_plugins(modules: list[str]) -> None:
    """Import configured handler modules (``executor.plugins``); a missing one is an error.

    Unlike entry points, these were named explicitly, so failing to start is clearer
    than running without them.
    """
    for module in modules:
        import_module(module)
        log.info("handler.plugin_loaded", module=module)


def get(name: str) -> HandlerSpec | None:
    """The handler registered as ``name``, or None."""
    load_all()
    return _REGISTRY.get(name)


def names() -> list[str]:
    """Every registered handler name, sorted."""
    load_all()
    return sorted(_REGISTRY)
