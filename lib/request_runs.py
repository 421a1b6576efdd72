"""What a request committed on purpose before its transaction lost a race, kept for its next run.

`lib.middleware.RetryOnConflictMiddleware` runs a request again when its transaction lost a race:
what the lost transaction wrote was rolled back and is simply written again. What the request
had committed early on purpose (`lib.db.commit_now`: a throttle reservation) stays committed,
and writing it again would count one request twice. Such a write is therefore kept here, in the
order in which the request makes it, and the next run takes the earlier run's over instead of
writing its own. Outside the middleware (a script, a test calling a service) nothing is kept.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestRuns:
    """The runs of one request: what they committed early, by kind, in order."""

    kept: dict[Hashable, list[Any]] = field(default_factory=dict)
    taken: dict[Hashable, int] = field(default_factory=dict)

    def start_run(self) -> None:
        self.taken.clear()

    def take(self, kind: Hashable) -> Any | None:
        index = self.taken.get(kind, 0)
        kept = self.kept.get(kind, [])
        if index >= len(kept):
            return None
        self.taken[kind] = index + 1
        return kept[index]

    def keep(self, kind: Hashable, value: Any) -> None:
        kept = self.kept.setdefault(kind, [])
        kept.append(value)
        self.taken[kind] = len(kept)


_current: ContextVar[RequestRuns | None] = ContextVar("request_runs", default=None)


@contextmanager
def request_runs() -> Iterator[RequestRuns]:
    """Around every run of one request; call `start_run` before each."""
    runs = RequestRuns()
    token = _current.set(runs)
    try:
        yield runs
    finally:
        _current.reset(token)


def committed_by_earlier_run(kind: Hashable) -> Any | None:
    """What an earlier run of this request committed as its next write of `kind`, if any: this
    run takes it over and writes nothing."""
    runs = _current.get()
    return None if runs is None else runs.take(kind)


def keep_for_later_runs(kind: Hashable, value: Any) -> None:
    """This run has committed `value` as its next write of `kind`: a later run takes it over."""
    runs = _current.get()
    if runs is not None:
        runs.keep(kind, value)
