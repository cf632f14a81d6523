"""Deterministic fan-in: every executor hands each node its frames in the same order.

A node with two or more inputs (``merge.need``, ``gate.scores``, ``merge.mean``) sees
frames from several branches; which branch's frame arrives first depends on thread
timing, unless the order is fixed. It is fixed by *epochs*: epoch ``(k, s)`` is everything
that follows from the ``k``-th frame of source ``s`` (``s`` its index among the graph's
sources), and epochs are ordered by ``(k, s)`` (source frames round-robin, as the inline
executor reads them). A fan-in node takes the frames of epoch ``e`` only once every input
has finished ``e``, in the order: epoch, then input (as listed in ``input``), then arrival
order on that input. The inline executor runs epoch by epoch in topological order, which
gives the same order.

Progress travels as marks (``wire.Mark``): after the frames a node emits for an epoch it
sends ``mark(e)``, so the frames between two marks are those of the later mark's epoch;
marks may be coalesced while there is nothing to delimit. End of stream carries the epoch
in which the sender flushed. Only links that lead to a fan-in node carry marks.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from ..frames import Frame
from ..graph import Graph
from ..wire import Epoch

#: Later than any epoch: the bound of a producer that has ended.
END: Epoch = (1 << 62, 0)


def source_sets(graph: Graph) -> dict[str, frozenset[int]]:
    """Per node: the indices of the sources upstream of it (a source: itself)."""
    index = {name: i for i, name in enumerate(graph.sources)}
    out: dict[str, frozenset[int]] = {}
    for name, spec in graph.nodes.items():  # topological order
        out[name] = frozenset({index[name]}) if name in index else \
            frozenset().union(*(out[p] for p in spec.inputs))
    return out


def needs_marks(graph: Graph) -> dict[str, bool]:
    """Per node: whether it receives marks (it is a fan-in, or feeds one)."""
    out: dict[str, bool] = {}
    for name in reversed(list(graph.nodes)):
        spec = graph.nodes[name]
        out[name] = not spec.is_source and (
            len(spec.inputs) > 1 or any(out[c] for c in graph.consumers[name]))
    return out


def next_epoch(done: Epoch | None, sources: frozenset[int]) -> Epoch:
    """The first epoch after ``done`` that comes from one of ``sources``."""
    if not sources:
        return END
    if done is None:
        return (0, min(sources))
    k, s = done
    later = [x for x in sources if x > s]
    return (k, min(later)) if later else (k + 1, min(sources))


def last_before(bound: Epoch, sources: frozenset[int]) -> Epoch | None:
    """The last epoch before ``bound`` that comes from one of ``sources``."""
    k, s = bound
    earlier = [x for x in sources if x < s]
    if earlier:
        return (k, max(earlier))
    return (k - 1, max(sources)) if k > 0 and sources else None


class Inbox:
    """Frames of a node that receives marks, held until their epoch is complete."""

    def __init__(self, producers: Iterable[str], sources: dict[str, frozenset[int]],
                 own: frozenset[int]) -> None:
        self.rank = {p: i for i, p in enumerate(producers)}
        self.sources, self.own = sources, own
        self.bound = {p: next_epoch(None, sources[p]) for p in self.rank}
        self.ended: dict[str, Epoch] = {}
        self._unmarked: dict[str, list[Frame]] = {p: [] for p in self.rank}
        self._held: list[tuple[Epoch, int, int, Frame]] = []
        self._count = itertools.count()

    def frame(self, producer: str, frame: Frame) -> None:
        self._unmarked[producer].append(frame)

    def mark(self, producer: str, epoch: Epoch | None, end: bool = False) -> None:
        """``producer`` is done with ``epoch`` (and has ended, with ``end``); its frames
        since its previous mark belong to ``epoch``."""
        if epoch is None:  # an end of stream without epoch: its frames come last
            epoch = END
        for f in self._unmarked[producer]:
            heapq.heappush(self._held, (epoch, self.rank[producer], next(self._count), f))
        self._unmarked[producer] = []
        if end:
            self.bound[producer] = END
            self.ended[producer] = epoch
        else:
            self.bound[producer] = max(self.bound[producer],
                                       next_epoch(epoch, self.sources[producer]))

    def release(self) -> list[tuple[Epoch, list[Frame]]]:
        """The complete epochs' frames, in order, grouped by epoch."""
        limit = min(self.bound.values())
        groups: list[tuple[Epoch, list[Frame]]] = []
        while self._held and self._held[0][0] < limit:
            epoch, _, _, frame = heapq.heappop(self._held)
            if groups and groups[-1][0] == epoch:
                groups[-1][1].append(frame)
            else:
                groups.append((epoch, [frame]))
        return groups

    @property
    def done(self) -> bool:
        return len(self.ended) == len(self.rank) and not self._held

    @property
    def progress(self) -> Epoch | None:
        """The last epoch this node has all the input of."""
        limit = min(self.bound.values())
        return None if limit == END else last_before(limit, self.own)

    @property
    def end_epoch(self) -> Epoch | None:
        known = [e for e in self.ended.values() if e != END]
        return max(known) if known else None
