"""Loading the config for a command, with every registered handler known."""

from __future__ import annotations

from pathlib import Path

import click

from services.executor.handlers import registry
from shared.config_checks import DEFAULT_CHECKS, handler_check
from shared.config_loader import ConfigError, Loaded, load_config
from shared.logging import add_secrets, configure_logging


def load(path: str | Path | None) -> Loaded:
    """Load and fully validate ``path``; exit with every error listed if it is invalid."""
    try:
        loaded = load_config(path, checks=(*DEFAULT_CHECKS, handler_check(registry.names())))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    add_secrets(loaded.config.secrets())
    return loaded


def setup_logging(loaded: Loaded) -> None:
    """Configure logging from the config's ``logging`` section."""
    settings = loaded.config.logging
    configure_logging(level=settings.level, json=settings.json_output)
