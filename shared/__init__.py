"""Code every Watchkeeper service shares, in five layers (each imports only those above it):

- ``shared.timing``: the pure time core (triggers, calendars, windows, schedules);
- ``shared.contract``: the wire contract (events, codec, keys, Lua scripts);
- ``shared.runtime``: plumbing (Redis, the consumer loop, logging, clock, embedded server);
- ``shared.config``: configuration models, loading, checks, stored task definitions;
- ``shared.reports``: daily and weekly reports (maths, loader, formats, templates), made
  by the reporter and on demand by the API and the CLI.

Nothing in ``shared`` imports a service. ``tests/test_import_graph.py`` enforces both rules.
"""
