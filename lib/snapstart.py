"""Lambda SnapStart: what each copy restored from a snapshot must renew.

With SnapStart, Lambda runs a function's init once per version, snapshots its memory and
starts execution environments from copies of that snapshot. Whatever random state init
created is then shared by every copy: `random`'s seed, a salt drawn at init, OpenSSL's
blinding of a parsed RSA key. Modules that hold such state register a renewal with
`after_restore`; each copy runs them before its first request (snapshot_restore_py's
after-restore hooks, which the Lambda runtime calls). Elsewhere no snapshot is taken and
the hooks never run. No connection crosses the snapshot: the engine opens none at import.
"""

from __future__ import annotations

import random
from collections.abc import Callable

try:
    from snapshot_restore_py import register_after_restore
except ImportError:  # not installed: no runtime to call the hooks either

    def register_after_restore(func: Callable[[], None]) -> Callable[[], None]:
        return func


RENEWALS: list[Callable[[], None]] = []


def after_restore(func: Callable[[], None]) -> Callable[[], None]:
    """Run `func` in every copy restored from a snapshot (a decorator)."""
    RENEWALS.append(func)
    register_after_restore(func)
    return func


@after_restore
def reseed_random() -> None:
    """Every copy would otherwise draw the same `random` numbers (retry back-off jitter)."""
    random.seed()
