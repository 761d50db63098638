"""Lambda SnapStart: what runs before Lambda snapshots an initialised container, and after it
restores one (possibly many times, hours later, in parallel).

The hooks module (snapshot_restore_py) exists only in Lambda's Python runtimes; elsewhere, and
without SnapStart, registering does nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def register(before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Register the hooks with the runtime; False where there is no runtime to register with."""
    try:
        import snapshot_restore_py  # type: ignore[import-not-found]
    except ImportError:
        return False
    snapshot_restore_py.register_before_snapshot(before_snapshot)
    snapshot_restore_py.register_after_restore(_reseeded, after_restore)
    return True


def _reseeded(after_restore: Callable[[], None]) -> None:
    # Every container restored from one snapshot would otherwise draw the same "random" numbers.
    random.seed()
    after_restore()
