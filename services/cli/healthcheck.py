"""``watchkeeper healthcheck``: the container/orchestrator probe of a service process.

A service in its own container exits when it fails (its restart policy brings it back),
so the probe checks what a running process cannot show by itself: that its config still
loads and that the Redis it names answers (a sentinel URL asks the sentinels first).
The API has its own HTTP probes (``/healthz``, ``/readyz``).
"""

from __future__ import annotations

import click

from services.cli.config import CONFIG_OPTION, load, with_redis

PROBE_WAIT_S = 3.0
"""Longer than one reconnect backoff step, shorter than any orchestrator's probe timeout."""


@click.command()
@CONFIG_OPTION
def healthcheck(config_path: str | None) -> None:
    """Exit 0 when the config is valid and its Redis answers PING (for health probes)."""
    config = load(config_path).config
    with_redis(config, lambda r, _keys: r.ping(), wait_s=PROBE_WAIT_S)
    click.echo("ok")
