"""Rollback points for the executor: creation from a handler's plan (the points themselves,
listing, verifying, restoring and pruning are ``shared.runtime.rollbacks``)."""

from services.executor.rollback.store import RollbackStore, preserve_plan

__all__ = ["RollbackStore", "preserve_plan"]
