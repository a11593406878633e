"""Load the YAML file: ``${VAR}`` interpolation, environment overrides, validation.

Every problem is reported with its dotted path in the file and its line, e.g.
``tasks.backup.schedule.cron (line 12): '0 25 * * *' is not a valid cron expression``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from shared.config.models import Config, TaskConfig
from shared.config.yaml_data import LOADER, NeedsNodes, load_data
from shared.runtime.collector import gc_paused

_VAR_RE: Final = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
ENV_SHORTCUTS: Final = {
    "REDIS_URL": ("redis", "url"),
    "DATABASE_URL": ("database", "url"),
}
ENV_PREFIX: Final = "WATCHKEEPER_"
ENV_NOT_OVERRIDES: Final = frozenset(
    {"WATCHKEEPER_CONFIG", "WATCHKEEPER_COLOR", "WATCHKEEPER_API", "WATCHKEEPER_TOKEN"}
)
"""``WATCHKEEPER_*`` variables that configure the command, not a config field."""

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem (or warning) at a place in the file."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        if not self.path:
            where = f"line {self.line}" if self.line else ""
        return f"{where}: {self.message}" if where else self.message


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[ConfigIssue], source: str = "configuration") -> None:
        self.issues = list(issues)
        self.source = source
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"{source} has {len(self.issues)} error(s):\n{lines}")


@dataclass
class Loaded:
    """A validated config plus the warnings met on the way (unset variables, …)."""

    config: Config
    warnings: list[ConfigIssue] = field(default_factory=list)


def dotted(path: Path_) -> str:
    """``("tasks", "a", "schedule", 0, "cron")`` → ``tasks.a.schedule[0].cron``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_map(node: yaml.Node | None, path: Path_ = ()) -> dict[Path_, int]:
    lines: dict[Path_, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            lines[sub] = key.start_mark.line + 1
            lines.update({k: v for k, v in _line_map(value, sub).items() if k != sub})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_map(item, (*path, i)))
    return lines


def _interpolate(
    value: Any, env: Mapping[str, str], path: Path_, unset: list[tuple[Path_, str]]
) -> Any:
    """``value`` with every ``${VAR}`` replaced; containers are changed in place (they are
    the parser's fresh data, and a copy would double a large file's peak memory)."""
    if isinstance(value, dict):
        for k, v in value.items():
            value[k] = _interpolate(v, env, (*path, str(k)), unset)
        return value
    if isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = _interpolate(v, env, (*path, i), unset)
        return value
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m["name"], m["default"]
        if name in env:
            return env[name]
        if default is None:
            unset.append((path, f"environment variable {name} is not set"))
        return default or ""

    return _VAR_RE.sub(sub, value)


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _env_scalar(raw: str) -> Any:
    """``8`` → 8, ``true`` → True, anything structured (``{ops}``) stays text."""
    try:
        value = yaml.safe_load(raw) if raw else raw
    except yaml.YAMLError:
        return raw
    return raw if isinstance(value, dict | list) or value is None else value


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, short in ENV_SHORTCUTS.items():
        if env.get(name):
            _set_path(data, short, env[name])
    for name, raw in env.items():
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            if name in ENV_NOT_OVERRIDES:
                continue
            path = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
            _set_path(data, path, _env_scalar(raw))


def _yaml_issue(exc: yaml.YAMLError) -> ConfigIssue:
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    words = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = ": ".join(w for w in words if w) or str(exc)
    return ConfigIssue("", f"not valid YAML: {what}", mark.line + 1 if mark else None)


class Lines(Mapping[Path_, int]):
    """The line of every path in the file, worked out only when first asked for.

    Lines are needed only to report an issue; building them needs the YAML node tree,
    which for a large file takes more memory than the data itself, so a valid file never
    keeps one: the text is composed again on first use.
    """

    def __init__(self, text: str) -> None:
        self._text: str = text
        self._lines: dict[Path_, int] | None = None

    def _map(self) -> dict[Path_, int]:
        if self._lines is None:
            loader = LOADER(self._text)
            try:
                self._lines = _line_map(loader.get_single_node())
            finally:
                loader.dispose()
        return self._lines

    def __getitem__(self, path: Path_) -> int:
        return self._map()[path]

    def __iter__(self) -> Iterator[Path_]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def _load_with_nodes(text: str, source: str) -> Any:
    loader = LOADER(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_issue(exc)], source) from None
    finally:
        loader.dispose()


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    """The file's data, from one parse of a plain file (its lines: :class:`Lines`)."""
    try:
        data = load_data(text)
    except NeedsNodes:
        data = _load_with_nodes(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "the file must hold a mapping at the top")], source)
    return data


def _validate(data: dict[str, Any]) -> Config:
    """``Config.model_validate(data)``, with each task's data freed as soon as its model
    is built: a large file's dicts and models are never alive together.

    A task that fails keeps its data and fails again in the whole-config validation, so
    every issue is reported with its full path, in the same order as before.
    """
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        for name, spec in tasks.items():
            if isinstance(name, str) and isinstance(spec, dict):
                with contextlib.suppress(ValidationError):
                    tasks[name] = TaskConfig.model_validate(spec)
    return Config.model_validate(data)


def _pydantic_issues(exc: ValidationError, lines: Mapping[Path_, int]) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        issues.append(ConfigIssue(dotted(loc), msg, _nearest_line(loc, lines)))
    return issues


def _nearest_line(loc: Path_, lines: Mapping[Path_, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


Check = Callable[[Config], Iterable[tuple[Path_, str]]]
"""A semantic check: yields (path, message) for each problem."""


def load_text(
    text: str,
    *,
    source: str = "configuration",
    env: Mapping[str, str] | None = None,
    checks: Iterable[Check] = (),
    warning_checks: Iterable[Check] = (),
) -> Loaded:
    """Parse, interpolate, override and validate ``text``; raise ConfigError with all issues.

    ``checks`` find errors; ``warning_checks`` (such as ``checks.default_warnings(now)``)
    find problems that are only reported, in ``Loaded.warnings``, once the config is valid.
    """
    environ = os.environ if env is None else env
    lines = Lines(text)
    unset: list[tuple[Path_, str]] = []
    with gc_paused():
        data = _interpolate(_parse_yaml(text, source), environ, (), unset)
        _apply_env(data, environ)
        try:
            config = _validate(data)
        except ValidationError as exc:
            raise ConfigError(_pydantic_issues(exc, lines), source) from None
        del data  # the models hold what is needed; free the dicts before the checks
    issues = [
        ConfigIssue(dotted(path), message, _nearest_line(path, lines))
        for check in checks
        for path, message in check(config)
    ]
    if issues:
        raise ConfigError(issues, source)
    warnings = [ConfigIssue(dotted(p), m, _nearest_line(p, lines)) for p, m in unset]
    warnings += _warnings(config, lines, warning_checks)
    return Loaded(config, warnings)


def _warnings(
    config: Config, lines: Mapping[Path_, int], checks: Iterable[Check]
) -> list[ConfigIssue]:
    return [
        ConfigIssue(dotted(path), message, _nearest_line(path, lines))
        for check in checks
        for path, message in check(config)
    ]


def load_config(
    path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    checks: Iterable[Check] = (),
    warning_checks: Iterable[Check] = (),
) -> Loaded:
    """Load the file at ``path`` (None: defaults plus environment overrides)."""
    if path is None:
        return load_text("{}", source="defaults", env=env, checks=checks)
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read {p}: {exc.strerror}")], str(p)) from None
    return load_text(text, source=str(p), env=env, checks=checks, warning_checks=warning_checks)
