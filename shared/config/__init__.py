"""Configuration: the frozen pydantic models, loading YAML with environment overrides,
the semantic checks ``validate`` runs, task definitions as stored in Redis, and the
catalog of compiled schedules, calendars and windows.

It may import ``shared.timing``, ``shared.contract`` and ``shared.runtime``; only
services (and the CLI) import it.
"""
