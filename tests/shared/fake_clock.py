"""A clock that a test sets by hand, for translators that read the time through an attribute
(``translator.clock = FakeClock()``: negative's deadlines, worm's retention)."""

from __future__ import annotations


class FakeClock:
    """Callable like ``time.time``: returns :attr:`now`, which only the test moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
