"""Exit codes scripts can rely on, and the one place errors are mapped to them.

=====  ==============================================================
code   meaning
=====  ==============================================================
0      ok
1      a run failed (``run --wait``), or any other failure
2      usage or configuration error (bad option, invalid config file)
3      not found (unknown task, run, dead letter, …)
4      unreachable (Redis, or the API)
5      authentication or authorisation refused
=====  ==============================================================

Commands raise one of the :class:`CliError` subclasses (click prints ``Error: …`` on
stderr and exits with the class's code). Errors from below the CLI — an invalid config,
Redis going away in the middle of a command — are mapped by :func:`exit_error`, which
the root group applies to every command, so no command needs to catch them itself.
"""

from __future__ import annotations

from enum import IntEnum

import click
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.config.loader import ConfigError

UNREACHABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError)
"""Errors meaning Redis went away (not every ``OSError``: a file error is not one)."""


class ExitCode(IntEnum):
    """The process exit codes of ``watchkeeper``."""

    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    UNREACHABLE = 4
    AUTH = 5


class CliError(click.ClickException):
    """A failure reported as ``Error: message`` with the class's exit code."""

    exit_code = ExitCode.FAILED


class RunFailed(CliError):
    """The run (or one of the runs) waited for did not succeed."""

    exit_code = ExitCode.FAILED


class ConfigInvalid(CliError):
    """The config file is missing, unreadable or invalid."""

    exit_code = ExitCode.USAGE


class NotFound(CliError):
    """The named task, run or entry does not exist."""

    exit_code = ExitCode.NOT_FOUND


class Unreachable(CliError):
    """Redis (or the API) could not be reached."""

    exit_code = ExitCode.UNREACHABLE


class AuthRefused(CliError):
    """The credentials were missing or not enough for the request."""

    exit_code = ExitCode.AUTH


def exit_error(exc: Exception) -> CliError | None:
    """The CLI error an exception from below the CLI stands for, or None to let it pass."""
    if isinstance(exc, ConfigError):
        return ConfigInvalid(str(exc))
    if isinstance(exc, UNREACHABLE_ERRORS):
        return Unreachable(f"Redis unreachable: {exc}")
    return None


class ExitMappingGroup(click.Group):
    """The root group: any error :func:`exit_error` knows leaves with its exit code."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command, mapping known errors from below the CLI to exit codes."""
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            mapped = exit_error(exc)
            if mapped is None:
                raise
            raise mapped from None
