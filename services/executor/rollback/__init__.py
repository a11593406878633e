"""Rollback points for the executor: the shared point store plus creation from a plan."""

from services.executor.rollback.store import RollbackStore, preserve_plan
from shared.runtime.rollbacks import (
    Preserve,
    PreservedFile,
    RestoreReport,
    RollbackError,
    RollbackIntegrityError,
    RollbackNotFound,
    RollbackPoint,
    create_point,
    restore,
    select_prunable,
    verify,
)

__all__ = [
    "Preserve",
    "PreservedFile",
    "RestoreReport",
    "RollbackError",
    "RollbackIntegrityError",
    "RollbackNotFound",
    "RollbackPoint",
    "RollbackStore",
    "create_point",
    "preserve_plan",
    "restore",
    "select_prunable",
    "verify",
]
