"""Configuration models: one frozen pydantic model per section of the YAML file.

Validated once at start (``shared.config.loader.load_config``) and passed explicitly;
nothing deeper reads the environment. Durations accept ``90s``/``5m``/``2h``/``7d``
or plain seconds and are stored as float seconds (fields end in the unit's meaning).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from shared.contract.keys import validate_namespace
from shared.contract.vocabulary import Priority, Severity
from shared.timing.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A non-negative duration in seconds, written ``30s``, ``5m``, ``2h``, ``7d`` or a number."""
Role = Literal["viewer", "operator", "admin"]
ReportFormat = Literal["html", "json", "csv", "markdown"]
DEFAULT_FORMATS: tuple[ReportFormat, ...] = ("html", "json", "csv")
NEVER_OVERRIDABLE: Final[Mapping[str, frozenset[str]]] = {
    "command": frozenset({"argv", "env", "cwd"}),
}
"""Params of a handler no trigger may set, whatever ``overridable_params`` says: anyone
who may XADD a trigger would otherwise run any program through any ``command`` task."""


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, dict | str) else value


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


class Model(BaseModel):
    """Base: frozen, unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA zone, else raise ValueError naming it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name such as 'America/New_York')"
        ) from None
    return name


class RedisSettings(Model):
    """Where Redis is; with no ``url`` ``watchkeeper up`` starts an embedded server."""

    url: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    embedded_host: str = "127.0.0.1"
    embedded_port: int = Field(6390, ge=1, le=65535)


class ApiToken(Model):
    """A bearer token and its role (viewer reads, operator also mutates, admin all)."""

    token: str
    role: Role = "viewer"


class ApiSettings(Model):
    """The HTTP API and dashboard."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    tokens: dict[str, ApiToken] = Field(default_factory=dict)
    public_badges: bool = False
    """Serve ``/api/v1/tasks/{task}/badge.svg`` without a token (for READMEs, wall screens)."""


class ExecutorSettings(Model):
    """Executor runtime limits and safety settings."""

    max_concurrent: int = Field(4, ge=1, le=1024)
    visibility_timeout: Duration = 60.0
    max_deliveries: int = Field(3, ge=1)
    grace_period: Duration = 30.0
    heartbeat_interval: Duration = 5.0
    allowed_roots: list[str] = Field(default_factory=lambda: ["data"])
    resource_groups: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    defer_cpu_above: float | None = Field(None, gt=0, le=100)
    defer_memory_above: float | None = Field(None, gt=0, le=100)
    rollback_dir: str = "data/rollbacks"
    rollback_max_points: int = Field(50, ge=1)
    rollback_max_age: Duration = 30 * 86400.0
    rollback_max_bytes: int = Field(1 << 30, ge=0)
    artifacts_dir: str = "data/artifacts"
    """Where runs keep what their tools produced (``<artifacts_dir>/<run_id>/``)."""
    artifacts_max_age: Duration = 30 * 86400.0
    plugins: list[str] = Field(default_factory=list)
    """Modules imported at executor start so their ``@handler`` decorators register."""


class SchedulerSettings(Model):
    """Leader lease and defaults for misfires."""

    lease_ttl: Duration = 10.0
    misfire_grace: Duration = 60.0
    decisions_kept: int = Field(1000, ge=10)


class RetryPolicy(Model):
    """Re-run a failed task up to ``max`` more times with exponential backoff."""

    max: int = Field(0, ge=0, le=100)
    backoff: Duration = 30.0
    max_delay: Duration = 3600.0


class TaskConfig(Model):
    """One task: which handler runs, when, and under which policy."""

    handler: str = Field(min_length=1)
    description: str = ""
    schedule: Annotated[list[dict[str, Any]], BeforeValidator(_as_list)] = Field(
        default_factory=list
    )
    params: dict[str, Any] = Field(default_factory=dict)
    overridable_params: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        default_factory=list
    )
    """Params a trigger (``watchkeeper run --param``, the API, a producer) may set; none
    by default. Retries, dependencies and policies always use ``params`` as configured."""
    priority: Priority = "normal"
    timeout: Duration = 300.0
    window: str | None = None
    rollback: Literal["auto", "manual", "off"] = "off"
    retries: RetryPolicy = RetryPolicy()
    depends_on: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    cooldown: Duration = 0.0
    enabled: bool = True
    emergency: bool = False
    max_instances: int = Field(1, ge=1)
    overlap: Literal["skip", "queue", "allow"] = "skip"
    misfire_grace: Duration | None = None
    catch_up: Literal["coalesce", "all", "skip"] = "coalesce"
    jitter: Duration = 0.0
    start: datetime | None = None
    end: datetime | None = None
    resources: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    category: str = "maintenance"
    tags: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    """Free labels to filter by (``GET /api/v1/tasks?tag=``)."""
    impact: float = Field(5.0, ge=0, le=10)
    urgency: float = Field(5.0, ge=0, le=10)
    effort: float = Field(5.0, ge=0, le=10)

    @field_validator("overridable_params")
    @classmethod
    def _never_overridable(cls, value: list[str], info: ValidationInfo) -> list[str]:
        handler = info.data.get("handler", "")
        forbidden = sorted(NEVER_OVERRIDABLE.get(handler, frozenset()).intersection(value))
        if forbidden:
            raise ValueError(
                f"{', '.join(forbidden)} of a {handler!r} task can never be overridden "
                "by a trigger (it would let anyone who may send one run any program)"
            )
        return value

    def params_refusal(self, params: Mapping[Any, Any]) -> str | None:
        """Why a trigger may not set ``params`` (naming each refused param), or None.

        The one rule for the scheduler's intake and ``watchkeeper run``/``trigger``.
        """
        never = NEVER_OVERRIDABLE.get(self.handler, frozenset())
        allowed = set(self.overridable_params) - never
        refused = sorted(str(name) for name in params if name not in allowed)
        if not refused:
            return None
        declared = ", ".join(sorted(allowed)) or "none"
        return (
            f"param(s) {', '.join(refused)} may not be set by a trigger "
            f"(overridable_params: {declared})"
        )


class PolicyConfig(Model):
    """Turn an alert or result into runs: ``when`` matches, ``run`` names tasks."""

    name: str | None = None
    when: dict[str, Any]
    run: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    cooldown: Duration = 900.0


class AlertChannel(Model):
    """A notifier: webhook (HMAC-signed JSON), Slack incoming webhook or email."""

    type: Literal["webhook", "slack", "email"]
    url: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    secret: str | None = None
    min_severity: Severity = "info"
    to: list[str] = Field(default_factory=list)
    smtp_host: str | None = None
    smtp_port: int = 25
    sender: str | None = None


class AlertsSettings(Model):
    """Alert dedupe cooldown and channels."""

    cooldown: Duration = 900.0
    channels: list[AlertChannel] = Field(default_factory=list)


class ReportTime(Model):
    """When a periodic report is built (local time of ``Config.timezone``)."""

    at: str = "18:00"
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        hh, _, mm = value.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
            raise ValueError(f"{value!r} is not a time of day HH:MM")
        return value


class ReportsSettings(Model):
    """Daily (18:00) and weekly (Sunday 06:00) reports by default."""

    daily: ReportTime = ReportTime(at="18:00")
    weekly: ReportTime = ReportTime(at="06:00", day="sun")
    formats: list[ReportFormat] = Field(default_factory=lambda: list(DEFAULT_FORMATS))
    dir: str = "data/reports"
    retention: Duration = Field(365 * 86400.0, gt=0)
    """How long stored reports (keys and files) are kept."""


class DatabaseSettings(Model):
    """Optional PostgreSQL (archive of results, database maintenance)."""

    url: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    archive: bool = True
    """Archive every result and alert there (beside the reporter) when ``url`` is set."""
    retention: Duration | None = None
    """How long archived rows are kept (``watchkeeper cleanup``, the ``retention``
    handler); None keeps them for ever."""


class ResultsSettings(Model):
    """How long results stay in Redis (result hashes, history streams, daily metrics)."""

    retention: Duration = Field(30 * 86400.0, gt=0)


class LoggingSettings(Model):
    """Log level; JSON unless on a terminal (``json`` forces it either way)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool | None = Field(None, alias="json")


class Config(Model):
    """The whole configuration file."""

    namespace: str = "maintenance"
    timezone: str = "UTC"
    data_dir: str = "data"
    redis: RedisSettings = RedisSettings()
    api: ApiSettings = ApiSettings()
    executor: ExecutorSettings = ExecutorSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    database: DatabaseSettings = DatabaseSettings()
    results: ResultsSettings = ResultsSettings()
    logging: LoggingSettings = LoggingSettings()
    calendars: dict[str, dict[str, Any]] = Field(default_factory=dict)
    windows: dict[str, dict[str, Any]] = Field(default_factory=dict)
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)
    policies: list[PolicyConfig] = Field(default_factory=list)
    alerts: AlertsSettings = AlertsSettings()
    reports: ReportsSettings = ReportsSettings()

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return validate_namespace(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    def secrets(self) -> list[str]:
        """Secret values in this config (tokens, channel secrets) for log redaction."""
        values = [t.token for t in self.api.tokens.values()]
        values += [c.secret for c in self.alerts.channels if c.secret]
        return values
