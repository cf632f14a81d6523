"""Per-stream state that cannot grow without bound: idle streams expire, and the number
of streams is capped (the least recently used goes first). Both are graph settings
(``streams: {idle: SECONDS, max: N}``); expired and evicted streams are counted in the
node's metrics (``expired``). A stream that comes back after expiry starts afresh, as
after a gap.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

T = TypeVar("T")

#: Defaults: a stream idle this many (wall-clock) seconds is forgotten; at most this many.
IDLE_SECONDS = 600.0
MAX_STREAMS = 10_000


class StreamStates(MutableMapping[str, T], Generic[T]):
    """A ``dict`` of per-stream state with idle expiry and a cap; reads refresh a stream."""

    def __init__(self, idle: float | None = IDLE_SECONDS, cap: int = MAX_STREAMS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.cap, self.clock = idle, cap, clock
        self.expired = 0
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def __getitem__(self, stream: str) -> T:
        _, value = self._items[stream]
        self._items[stream] = (self.clock(), value)
        self._items.move_to_end(stream)
        return value

    def __setitem__(self, stream: str, value: T) -> None:
        now = self.clock()
        self._items[stream] = (now, value)
        self._items.move_to_end(stream)
        self._expire(now)

    def __delitem__(self, stream: str) -> None:
        del self._items[stream]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self, now: float) -> None:
        items = self._items
        while len(items) > self.cap or (self.idle is not None and items and
                                        now - next(iter(items.values()))[0] > self.idle):
            items.popitem(last=False)
            self.expired += 1


def expired_count(node: object) -> int:
    """Streams a node has forgotten (every :class:`StreamStates` among its attributes)."""
    return sum(v.expired for v in vars(node).values() if isinstance(v, StreamStates))
