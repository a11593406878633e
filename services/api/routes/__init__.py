"""The API's routes, one module per resource; :data:`ROUTES` is the whole table."""

from services.api.routes import (
    activity,
    alerts,
    badges,
    dashboard,
    deadletters,
    events,
    health,
    reports,
    rollbacks,
    runs,
    schedule,
    tasks,
    windows,
)

ROUTES = (
    *health.ROUTES,
    *tasks.ROUTES,
    *badges.ROUTES,
    *activity.ROUTES,  # before runs: /runs/running is no run id
    *runs.ROUTES,
    *schedule.ROUTES,
    *windows.ROUTES,
    *rollbacks.ROUTES,
    *deadletters.ROUTES,
    *reports.ROUTES,
    *events.ROUTES,
    *alerts.ROUTES,
    *dashboard.ROUTES,
)
"""Every route of the API (the router and the OpenAPI document are built from it)."""
