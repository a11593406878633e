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
    base_url: str = Field("", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    """The path prefix a reverse proxy serves the API under (``/watchkeeper``; empty at the
    root). The proxy strips it; the dashboard puts it before every link and request."""


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


class TaskAlerts(Model):
    """Per-task thresholds of the reporter's alert rules (``services/reporter/rules``)."""

    enabled: bool = True
    failure_rate: float = Field(0.5, ge=0, le=1)
    """Alert when more than this share of the last ``window_runs`` runs failed …"""
    min_runs: int = Field(10, ge=1)
    """… once at least this many runs are known."""
    window_runs: int = Field(20, ge=1, le=1000)
    consecutive_failures: int = Field(3, ge=1)
    stale_periods: int = Field(2, ge=1)
    """Stale when this many expected slots passed without a finished run …"""
    stale_after: Duration = 7 * 86400.0
    """… or this long passed with at least one expected slot and no finished run."""
    duration_regression: float = Field(0.5, gt=0)
    """Alert when a run took this much longer (0.5 = 50 %) than the trailing 7 days' mean."""
    health_warning: float = Field(50.0, ge=0, le=100)
    health_critical: float = Field(30.0, ge=0, le=100)


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
    alerts: TaskAlerts = TaskAlerts()

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


ChannelType = Literal["webhook", "slack", "pagerduty", "email"]
PAGERDUTY_EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"


class AlertChannel(Model):
    """Where alerts are delivered: a signed webhook (Alertmanager-shaped JSON), a Slack
    incoming webhook, PagerDuty Events v2 or email over SMTP.

    ``name`` (default: the type) is how the CLI, the outbox and the delivery counters
    name the channel. Secrets (``secret``, ``routing_key``, ``password``) belong in
    ``${VAR}`` references; they are masked in every log line.
    """

    type: ChannelType
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    url: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    secret: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    """Standard Webhooks signing key (``whsec_<base64>``, or any text used as raw bytes)."""
    routing_key: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    """PagerDuty integration key."""
    min_severity: Severity = "info"
    tasks: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    """Only alerts about these tasks (label ``task``); empty = every alert."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Only alerts whose labels carry these values."""
    timeout: Duration = 10.0
    to: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Annotated[str | None, BeforeValidator(_empty_is_none)] = None
    ca_file: str | None = None
    """Extra CA bundle to trust for the SMTP server's certificate (a private relay)."""
    sender: str | None = None

    @property
    def key(self) -> str:
        """The channel's name: ``name``, else its type."""
        return self.name or self.type

    def secret_values(self) -> list[str]:
        """Every secret this channel holds (for log redaction); a Slack webhook URL is one."""
        url = self.url if self.type == "slack" else None
        return [v for v in (self.secret, self.routing_key, self.password, url) if v]


class DeliverySettings(Model):
    """Outbox retries: exponential backoff with jitter, then the dead-letter stream."""

    first_backoff: Duration = 2.0
    max_backoff: Duration = 600.0
    max_attempts: int = Field(10, ge=1, le=100)
    circuit_failures: int = Field(5, ge=1)
    """Consecutive failures of a channel that open its circuit."""
    circuit_open: Duration = 60.0
    """How long an open circuit keeps the channel's deliveries waiting."""
    lease_margin: Duration = 30.0
    """A claimed delivery's lease beyond its send timeout: how long the deliveries of a
    notifier killed mid-send wait before another one (or its restart) takes them."""


class AlertsSettings(Model):
    """Alert dedupe, cooldown, reminders, channels and delivery.

    ``cooldown``: the least time between two announcements of one alert key (a resolve
    followed by a new raise inside it is held back until the cooldown ends or the alert
    escalates). ``reminder``: a critical alert nobody acknowledged is announced again this
    often. ``allow_private_targets``: hosts, addresses or networks (CIDR) that HTTP
    channels may reach although they are loopback, private, link-local or metadata.
    """

    cooldown: Duration = 900.0
    reminder: Duration = 4 * 3600.0
    evaluate_every: Duration = 60.0
    external_ttl: Duration = 86400.0
    """Alerts from other producers that never send a resolve are resolved after this."""
    dashboard_url: str | None = None
    channels: list[AlertChannel] = Field(default_factory=list)
    allow_private_targets: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        default_factory=list
    )
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("channels")
    @classmethod
    def _distinct_names(cls, value: list[AlertChannel]) -> list[AlertChannel]:
        names = [c.key for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"channel name(s) {', '.join(twice)} used twice: give each a name")
        return value

    def channel(self, name: str) -> AlertChannel | None:
        """The channel called ``name``, or None."""
        return next((c for c in self.channels if c.key == name), None)


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


class ReporterSettings(Model):
    """The reporter service when it runs alone (``watchkeeper reporter``)."""

    nice: int = Field(10, ge=0, le=19)
    """Added to its process' niceness at start (0: left alone): on a host it shares with
    the run path, it reads results when a core is free, in bigger batches, so runs start
    sooner and each result costs less CPU (``shared/runtime/priority.py``). ``up`` runs
    every service in one process and leaves its priority alone."""


class ResultsSettings(Model):
    """How long results stay in Redis (result hashes, history streams, daily metrics)."""

    retention: Duration = Field(30 * 86400.0, gt=0)


class StreamsSettings(Model):
    """Trimming of the consumed streams (triggers, control, due, results, alerts): the
    scheduler leader trims them every ``trim_every``, never below an entry a consumer
    group has pending or not read yet; acknowledged entries stay ``keep`` long so an
    operator can still inspect recent ones."""

    keep: Duration = 3600.0
    trim_every: Duration = Field(60.0, gt=0)


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
    reporter: ReporterSettings = ReporterSettings()
    streams: StreamsSettings = StreamsSettings()
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
        values += [v for c in self.alerts.channels for v in c.secret_values()]
        return values
