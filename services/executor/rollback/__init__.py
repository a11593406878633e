"""Rollback points: preserved files with checksums (``points``) indexed in Redis (``store``)."""

from services.executor.rollback.points import (
    Preserve,
    PreservedFile,
    RestoreReport,
    RollbackError,
    RollbackIntegrityError,
    RollbackPoint,
    create_point,
    restore,
    verify,
)
from services.executor.rollback.store import RollbackNotFound, RollbackStore, select_prunable

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
    "restore",
    "select_prunable",
    "verify",
]
