"""Rollback points: preserved files with checksums (``points``) indexed in Redis (``store``).

Listing, verifying and restoring is file and Redis work any process on the host may do
(the executor creates points; the API and the CLI list, verify and restore them).
"""

from shared.runtime.rollbacks.points import (
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
from shared.runtime.rollbacks.store import PointStore, RollbackNotFound, select_prunable

__all__ = [
    "PointStore",
    "Preserve",
    "PreservedFile",
    "RestoreReport",
    "RollbackError",
    "RollbackIntegrityError",
    "RollbackNotFound",
    "RollbackPoint",
    "create_point",
    "restore",
    "select_prunable",
    "verify",
]
