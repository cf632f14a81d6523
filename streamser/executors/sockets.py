"""Run a set of nodes (a partition) as threads connected by ZeroMQ PUSH/PULL sockets.

Inside the partition, links are ``inproc://`` and carry frames by reference. A node whose producers run elsewhere binds
its ``endpoint`` (ipc:// or tcp://), and producers here connect to the ``endpoint`` of
consumers that run elsewhere. The ``threads`` executor is one partition holding every
node; the ``processes`` executor and ``streamser node --only`` run one partition per
process. Each node owns one PULL socket and one PUSH socket per consumer (fan-out
copies; a fan-in node takes its inputs in the order fixed by ``ordering``, whatever the
timing); high-water marks bound every queue.
"""
from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zmq

from ..frames import Frame
from ..graph import Graph
from ..metrics import LIVE, NodeMetrics
from ..node import Node, Source
from ..security import Curve
from ..streams import expired_count
from ..wire import EndOfStream, Epoch, Mark, WireError, decode_from, encode, encode_eos, encode_mark
from .common import (
    DRAIN_SECONDS,
    Control,
    Guarded,
    NodeFailed,
    Pacer,
    SourceError,
    is_live,
    is_paced,
    log,
    next_frame,
    source_failed,
)
from .ordering import Inbox, needs_marks, source_sets

POLL_MS = 50
LINGER_MS = 10_000


NOBLOCK = int(zmq.NOBLOCK)
#: Most frames a ``process_batch`` node gets in one call.
BATCH_MAX = 64


class _Aborted(Exception):
    pass


class Handoff:
    """Frames between threads of one process travel by reference: the inproc message is
    a 16-byte ticket (a random per-run prefix and a counter) redeemed here once for the
    sender's name and the frame (or mark).

    No encoding, no copy. A ticket that is unknown (forged, or sent twice) is rejected
    like any malformed message.
    """

    TICKET_BYTES = 16

    def __init__(self) -> None:
        self._prefix = secrets.token_bytes(8)
        self._count = itertools.count()
        self._items: dict[bytes, tuple[str, Frame | Mark]] = {}

    def put(self, sender: str, item: Frame | Mark) -> bytes:
        ticket = self._prefix + next(self._count).to_bytes(8, "little")
        self._items[ticket] = (sender, item)
        return ticket

    def take(self, ticket: bytes) -> tuple[str, Frame | Mark] | None:
        return self._items.pop(ticket, None)


def default_endpoint(graph: Graph, name: str) -> str:
    """Where a node listens when its producers run in another process and YAML says nothing."""
    return graph.nodes[name].endpoint or f"tcp://127.0.0.1:{5600 + list(graph.nodes).index(name)}"


@dataclass
class Wiring:
    """The sockets of one node inside a partition."""

    binds: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    producers: frozenset[str] = frozenset()
    #: Producers in order of the node's ``input`` list, and which run in this partition.
    inputs: tuple[str, ...] = ()
    local_producers: frozenset[str] = frozenset()
    #: Per output: whether that consumer takes marks (``ordering``).
    marks_out: list[bool] = field(default_factory=list)
    #: Whether this node takes marks, its producers' source sets, its own.
    marks_in: bool = False
    sources: dict[str, frozenset[int]] = field(default_factory=dict)
    source_index: int = 0
    #: Per output: the frame kinds that consumer takes (None: every kind).
    kinds_out: list[frozenset[str] | None] = field(default_factory=list)


def plan(graph: Graph, names: Iterable[str], run_id: str) -> dict[str, Wiring]:
    """Endpoints each node of the partition binds and connects to."""
    inside = set(names)
    marks, sources = needs_marks(graph), source_sets(graph)
    wiring = {}
    for name in graph.nodes:
        if name not in inside:
            continue
        spec = graph.nodes[name]
        binds = []
        if any(p in inside for p in spec.inputs):
            binds.append(f"inproc://{run_id}/{name}")
        if spec.inputs and (spec.endpoint or any(p not in inside for p in spec.inputs)):
            binds.append(default_endpoint(graph, name))
        outputs = [f"inproc://{run_id}/{c}" if c in inside else default_endpoint(graph, c)
                   for c in graph.consumers[name]]
        wiring[name] = Wiring(
            binds, outputs, frozenset(spec.inputs), spec.inputs,
            frozenset(p for p in spec.inputs if p in inside),
            [marks[c] for c in graph.consumers[name]], marks[name],
            {p: sources[p] for p in (*spec.inputs, name)},
            graph.sources.index(name) if spec.is_source else 0,
            [graph.nodes[c].takes for c in graph.consumers[name]])
    return wiring


class _NodeThread(threading.Thread):
    def __init__(self, name: str, node: Node, wiring: Wiring, graph: Graph, ctx: zmq.Context,
                 curve: Curve | None, control: Control, handoff: Handoff,
                 cpu: int | None = None) -> None:
        super().__init__(name=f"streamser:{name}", daemon=True)
        self.node_name, self.node, self.wiring = name, node, wiring
        self.graph, self.ctx, self.curve, self.control = graph, ctx, curve, control
        self.metrics = NodeMetrics()
        self.guard = Guarded(name, node, self.metrics, graph.nodes[name].on_error)
        self.error: BaseException | None = None
        self.late: SourceError | None = None  # a source's read error, raised after the drain
        self.live = is_live(node)
        self.cpu = cpu
        self.handoff = handoff
        self.pull: zmq.Socket | None = None
        self.pushes: list[zmq.Socket] = []
        self.local: list[bool] = []  # per push socket: an inproc link
        self.monitors: list[tuple[zmq.Socket, zmq.Socket]] = []
        self._marked: Epoch | None = None      # the last mark sent
        self._due: Epoch | None = None         # progress not yet sent (nothing to delimit)
        self._unmarked = False                 # frames sent since the last mark

    # sockets -------------------------------------------------------------------------
    def _open(self) -> None:
        for endpoint in self.wiring.outputs:
            sock = self.ctx.socket(zmq.PUSH)
            sock.sndhwm = self.graph.queue
            sock.linger = LINGER_MS
            # queue only on established links: a live source drops (and counts) instead
            # of piling frames up for a consumer that is not there yet
            sock.immediate = True
            self.pushes.append(sock)
            self.local.append(endpoint.startswith("inproc://"))
            if endpoint.startswith("tcp://") and self.curve:
                self.curve.client(sock)
            if not endpoint.startswith("inproc://"):
                self.monitors.append((sock, sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)))
            sock.connect(endpoint)
        if self.wiring.binds:
            sock = self.ctx.socket(zmq.PULL)
            sock.linger = 0
            self.pull = sock  # closed by _close, also when a bind fails
            sock.rcvhwm = self.graph.queue
            sock.rcvtimeo = POLL_MS
            for endpoint in self.wiring.binds:
                if endpoint.startswith("tcp://"):
                    if self.curve:
                        self.curve.server(sock)
                    sock.maxmsgsize = self.graph.max_frame_bytes + 65536
                try:
                    sock.bind(endpoint)
                except zmq.ZMQError as exc:
                    raise RuntimeError(f"cannot bind {endpoint}: "
                                       f"{zmq.strerror(exc.errno)}") from None

    def _await_consumers(self) -> None:
        """Keep the links to other processes open until each consumer hangs up.

        libzmq does not reliably honour LINGER for messages still queued behind a full
        peer when a socket closes, so after end of stream a node waits until every
        consumer in another process has disconnected (it does so once it has read our
        end-of-stream), instead of trusting LINGER.
        """
        deadline = time.monotonic() + LINGER_MS / 1000
        for _, monitor in self.monitors:
            while time.monotonic() < deadline and not self.control.abort.is_set():
                if monitor.poll(POLL_MS):
                    monitor.recv_multipart()  # the only event subscribed: disconnected
                    break

    def _close(self) -> None:
        aborted = self.control.abort.is_set() or self.error is not None
        for sock, monitor in self.monitors:
            sock.disable_monitor()
            monitor.close(linger=0)
        for sock in [*self.pushes, *([self.pull] if self.pull else [])]:
            sock.close(linger=0 if aborted else None)

    def _deliver(self, sock: zmq.Socket, message: list[Any], live: bool) -> bool:
        """Hand one message to a link: a live node drops when it is full, others wait."""
        while True:
            try:
                sock.send_multipart(message, flags=NOBLOCK, copy=False)
                return True
            except zmq.Again:
                if live:
                    self.metrics.dropped += 1
                    if _power_of_ten(self.metrics.dropped):
                        log.warning(f"node '{self.node_name}': {self.metrics.dropped} "
                                    "frame(s) dropped so far: the graph behind this live "
                                    "source does not keep up (counted as 'dropped')")
                    return False
                if self.control.abort.is_set():
                    raise _Aborted from None
                sock.poll(POLL_MS, zmq.POLLOUT)

    def _emit(self, frames: Iterable[Frame]) -> None:
        for frame in frames:
            self.metrics.frames_out += 1
            self._unmarked = True
            wire = None
            for sock, local, takes in zip(self.pushes, self.local, self.wiring.kinds_out):
                if takes is not None and frame.kind not in takes:
                    continue
                if local:  # same process: the frame itself travels, by reference
                    ticket = self.handoff.put(self.node_name, frame)
                    if not self._deliver(sock, [ticket], self.live):
                        self.handoff.take(ticket)
                else:
                    wire = wire or encode(frame, self.node_name)
                    self._deliver(sock, wire, self.live)

    def _mark(self, epoch: Epoch | None, now: bool = False) -> None:
        """Tell the consumers that take marks that ``epoch`` is done: at once when frames
        of it went out (they must be delimited), else when this node next waits."""
        if epoch is None or (self._marked is not None and epoch <= self._marked):
            return
        self._due = epoch
        if now or self._unmarked:
            self._send_due()

    def _send_due(self) -> None:
        epoch, self._due = self._due, None
        if epoch is None:
            return
        self._marked, self._unmarked = epoch, False
        wire = None
        for sock, local, takes in zip(self.pushes, self.local, self.wiring.marks_out):
            if not takes:
                continue
            if local:
                ticket = self.handoff.put(self.node_name, Mark(self.node_name, epoch))
                if not self._deliver(sock, [ticket], self.live):
                    self.handoff.take(ticket)
            else:
                wire = wire or encode_mark(self.node_name, epoch)
                self._deliver(sock, wire, self.live)

    def _end_stream(self, epoch: Epoch | None) -> None:
        for sock in self.pushes:
            self._deliver(sock, encode_eos(self.node_name, epoch), live=False)

    # loops ---------------------------------------------------------------------------
    def _run_source(self, source: Source) -> Epoch:
        pacer = Pacer() if is_paced(source) else None
        frames = iter(source.frames())
        self.control.on_stop(source.close)
        self.control.total[self.node_name] = source.length()
        stop, index, k = self.control.stop, self.wiring.source_index, 0
        marks = any(self.wiring.marks_out)
        while not stop.is_set():
            try:
                frame = next_frame(self.metrics, frames, self.node_name)
            except Exception as exc:  # end the stream here; fail after the drain
                self.late = source_failed(self.node_name, exc)
                break
            if frame is None:
                break
            self.control.produced(self.node_name, frame)
            if pacer:
                pacer.wait(frame, stop)
            self._emit((frame,))
            if marks:
                self._mark((k, index), now=True)
            k += 1
        return (k, index)

    def _receive(self, parts: list[Any]) -> tuple[str | None, Frame | EndOfStream | Mark] | None:
        """One message -> (sender, item), or None (rejected and counted)."""
        if len(parts) == 1 and len(parts[0]) == Handoff.TICKET_BYTES:
            got = self.handoff.take(parts[0])
            if got is None:
                self.metrics.rejected += 1
            return got
        try:
            return decode_from(parts, self.graph.max_frame_bytes)
        except WireError:
            self.metrics.rejected += 1
            return None

    def _recv(self, wait: bool) -> list[Any] | None:
        assert self.pull is not None
        try:
            return self.pull.recv_multipart(0 if wait else NOBLOCK)
        except zmq.Again:
            if self.control.abort.is_set():
                raise _Aborted from None
            return None

    def _process(self, frames: list[Frame], remote: bool) -> None:
        batch_fn = getattr(self.node, "process_batch", None)
        if batch_fn is not None and len(frames) > 1:
            self._emit(self.guard.process_batch(batch_fn, frames, remote))
        else:
            for frame in frames:
                self._emit(self.guard.process(frame, remote))
        if self.control.abort.is_set():
            raise _Aborted

    def _run_node(self) -> Epoch | None:
        """Receive until every producer has ended. A node with ``process_batch`` (e.g.
        ``infer``, serving many streams) gets the frames already waiting, up to
        ``BATCH_MAX``, in one call. A node that takes marks gets its frames through an
        :class:`Inbox`, epoch by epoch (``ordering``); the others in arrival order."""
        w = self.wiring
        batch_fn = getattr(self.node, "process_batch", None)
        inbox = Inbox(w.inputs, w.sources, w.sources[self.node_name]) if w.marks_in else None
        remote_in = not w.local_producers.issuperset(w.producers)
        finished: set[str] = set()
        while not (inbox.done if inbox else finished == w.producers):
            parts = self._recv(wait=False)
            if parts is None:
                self._send_due()  # about to wait: no more coalescing of progress
                parts = self._recv(wait=True)
                if parts is None:
                    continue
            batch: list[Frame] = []
            remote = False
            for n in range(BATCH_MAX):  # what is waiting, up to BATCH_MAX messages
                if n:
                    parts = self._recv(wait=False)
                    if parts is None:
                        break
                got = self._receive(parts)
                if got is not None:
                    sender, item = got
                    if isinstance(item, Frame):
                        if inbox is None and sender in w.producers:
                            self.metrics.frames_in += 1
                            batch.append(item)
                            remote = remote or sender not in w.local_producers
                        elif inbox is not None and sender in w.producers \
                                and sender not in inbox.ended:
                            self.metrics.frames_in += 1
                            inbox.frame(sender, item)
                        else:
                            self.metrics.rejected += 1
                    elif item.sender not in w.producers or (
                            inbox is not None and item.sender in inbox.ended):
                        self.metrics.rejected += 1
                    elif inbox is not None:
                        inbox.mark(item.sender, item.epoch, isinstance(item, EndOfStream))
                    elif isinstance(item, EndOfStream):
                        finished.add(item.sender)
                if inbox is not None and inbox.done:
                    break
            if inbox is None:
                if batch:
                    self._process(batch, remote)
                continue
            for batch_groups in _batches(inbox.release(), batch_fn is not None):
                if len(batch_groups) == 1:
                    epoch, frames = batch_groups[0]
                    for i in range(0, len(frames), BATCH_MAX):
                        self._process(frames[i:i + BATCH_MAX], remote_in)
                    self._mark(epoch)
                    continue
                # epochs of different streams in one process_batch call; each epoch's
                # outputs (its stream's) then go out in epoch order, as if one by one
                frames = [f for _, group in batch_groups for f in group]
                by_stream: dict[str, list[Frame]] = {}
                for out in self.guard.process_batch(batch_fn, frames, remote_in):
                    by_stream.setdefault(out.stream, []).append(out)
                for epoch, group in batch_groups:
                    self._emit(by_stream.pop(group[0].stream, ()))
                    self._mark(epoch)
                self._emit(f for rest in by_stream.values() for f in rest)
                if self.control.abort.is_set():
                    raise _Aborted
            self._mark(inbox.progress)
        return inbox.end_epoch if inbox else None

    def run(self) -> None:
        try:
            self._open()
            self.node.start()  # before pinning: thread pools a node starts stay free
            if self.cpu is not None:
                os.sched_setaffinity(0, {self.cpu})  # 0: this thread only
            if isinstance(self.node, Source):
                end = self._run_source(self.node)
            else:
                end = self._run_node()
            self._emit(self.guard.flush())
            self._end_stream(end)
            self._await_consumers()
        except _Aborted:
            pass
        except BaseException as exc:  # reported by the partition, which stops the run
            self.error = exc
        finally:
            self.metrics.expired = expired_count(self.node)
            try:
                self.node.stop()
            except Exception as exc:
                self.error = self.error or exc
            self._close()


def _power_of_ten(n: int) -> bool:
    """1, 10, 100, ...: when to say again that a count has grown."""
    while n % 10 == 0:
        n //= 10
    return n == 1


def _batches(groups: list[tuple[Epoch, list[Frame]]], batching: bool
             ) -> Iterator[list[tuple[Epoch, list[Frame]]]]:
    """Consecutive epochs grouped for one ``process_batch`` call: while each epoch holds
    frames of one stream, and no stream comes twice (so that each output belongs to
    exactly one epoch), up to ``BATCH_MAX`` frames."""
    i = 0
    while i < len(groups):
        batch = [groups[i]]
        streams = {f.stream for f in groups[i][1]}
        size = len(groups[i][1])
        j = i + 1
        if batching and len(streams) == 1:
            while j < len(groups):
                more = {f.stream for f in groups[j][1]}
                if len(more) != 1 or more & streams or size + len(groups[j][1]) > BATCH_MAX:
                    break
                batch.append(groups[j])
                streams |= more
                size += len(groups[j][1])
                j += 1
        yield batch
        i = j


def _shared_cpu(graph: Graph, threads: int) -> tuple[int | None, IO[str] | None]:
    """The core all node threads of a partition share (None to leave them free), and the
    lock that claims it, to be closed when the partition ends.

    Only one thread runs Python at a time (the GIL); spread over cores, node threads
    hand the GIL across cores on every hop, which costs about twice as much per hop as
    on one core (docs/performance.md). ``pin_threads: false`` in the graph turns it off.
    Partitions running at the same time take different cores while there are free ones
    (:func:`claim_cpu`).
    """
    if not graph.pin_threads or threads < 2 or not hasattr(os, "sched_setaffinity"):
        return None, None
    return claim_cpu(sorted(os.sched_getaffinity(0), reverse=True))


def claim_cpu(cpus: list[int]) -> tuple[int, IO[str] | None]:
    """The first of ``cpus`` that no running partition on this machine holds (an advisory
    lock on a file per core in the temp dir, held while the returned file is open and
    released by the OS if the process dies), with that file; when all are held, the one
    for this process id, and None."""
    import fcntl
    import tempfile
    for cpu in cpus:
        path = Path(tempfile.gettempdir()) / f"streamser-cpu-{cpu}.lock"
        try:
            fh = open(path, "a")  # noqa: SIM115 - held open until the partition ends
        except OSError:
            break
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        return cpu, fh
    return cpus[os.getpid() % len(cpus)], None


def run_partition(graph: Graph, names: Iterable[str], control: Control,
                  run_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Run the named nodes as threads until every one has finished, or stop is requested."""
    names = [n for n in graph.nodes if n in set(names)]
    cpu, cpu_lock = _shared_cpu(graph, len(names))
    handoff = Handoff()
    wiring = plan(graph, names, run_id or uuid.uuid4().hex[:8])
    ctx = zmq.Context()
    curve = None
    uses_tcp = any(e.startswith("tcp://") for w in wiring.values() for e in w.binds + w.outputs)
    threads: list[_NodeThread] = []
    try:
        if graph.curve and uses_tcp:
            curve = Curve(ctx, graph.curve)
        for name in names:
            try:
                node = graph.nodes[name].build()
            except Exception as exc:
                raise NodeFailed(name, exc) from exc
            threads.append(_NodeThread(name, node, wiring[name], graph, ctx, curve, control,
                                       handoff, cpu))
            LIVE.setdefault(graph.name, {})[name] = threads[-1].metrics
        for t in threads:
            t.start()
        deadline = None
        for t in threads:
            while t.is_alive():
                t.join(0.05)
                failed = next((x for x in threads if x.error is not None), None)
                if failed is not None:
                    control.request_stop()
                    control.abort.set()
                if control.stop.is_set() and deadline is None:
                    deadline = time.monotonic() + DRAIN_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    control.abort.set()
        for t in threads:
            if t.error is not None:
                raise NodeFailed(t.node_name, t.error) from t.error
        for t in threads:
            if t.late is not None:
                raise t.late
    finally:
        for t in threads:
            t.join(1.0)
        if curve:
            curve.close()
        if not any(t.is_alive() for t in threads):
            ctx.term()  # a node stuck in its own code must not hang the exit
        if cpu_lock is not None:
            cpu_lock.close()
    return {t.node_name: t.metrics.to_dict() for t in threads}
