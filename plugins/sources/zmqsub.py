"""source.zmq: receive the frames another graph publishes with sink.zmq (ZeroMQ SUB)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Literal

import zmq
from pydantic import Field, field_validator
from streamser.plugins.sinks.zmqpub import check_endpoint

from streamser.frames import KINDS, Frame
from streamser.node import Params, Source
from streamser.security import Curve
from streamser.wire import DEFAULT_MAX_PAYLOAD_BYTES, EndOfStream, WireError, decode

log = logging.getLogger(__name__)
POLL_MS = 50
Kind = Literal["audio", "features", "patch", "scores", "vad", "event"]


class ZmqSubParams(Params):
    endpoint: str = Field("tcp://127.0.0.1:5556", description="The publisher's endpoint "
                          "(its sink.zmq endpoint, with the host's address).")
    topics: list[str] = Field(default_factory=list, description="Topics (publishing node "
                              "names) to receive; every topic when empty.")
    kinds: list[Kind] = Field(["audio"], min_length=1, description="Frame kinds expected "
                              "(checked against downstream inputs); others are dropped "
                              "and counted.")
    until_eos: bool = Field(False, description="End the stream when the publisher ends "
                            "(every listed topic, or the first one when none is listed); "
                            "otherwise run until stopped.")
    queue: int = Field(1000, ge=1, description="Messages held while the graph is behind; "
                       "the publisher drops what exceeds it.")
    curve: str | None = Field(None, description="CurveZMQ secret key file, the one the "
                              "publisher uses.", json_schema_extra={"file": "input"})

    _endpoint = field_validator("endpoint")(check_endpoint)


class ZmqSource(Source):
    """Subscribe to a sink.zmq publisher and emit the frames it sends; live.

    Malformed messages, unknown topics and kinds not listed in ``kinds`` are dropped and
    counted (``rejected``, ``unexpected``); the node goes on.
    """

    Params = ZmqSubParams
    outputs = KINDS
    params: ZmqSubParams

    live = True  # type: ignore[assignment]  # a publisher never waits for us
    paced = False  # type: ignore[assignment]  # frames come at the publisher's pace

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        return None                           # whatever the publisher sends

    @classmethod
    def output_kinds(cls, params: Params, input_kinds: frozenset[str]) -> frozenset[str]:
        assert isinstance(params, ZmqSubParams)
        return frozenset(params.kinds)

    def start(self) -> None:
        p = self.params
        self.rejected = 0
        self.unexpected = 0
        #: Audio frames that never arrived (gaps in a stream's sequence numbers).
        self.missing = 0
        self._last_seq: dict[tuple[bytes, str], int] = {}
        self._closed = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.rcvhwm = p.queue
        self._sock.maxmsgsize = DEFAULT_MAX_PAYLOAD_BYTES + 65536
        self._sock.linger = 0
        self._curve = Curve(self._ctx, p.curve) if p.curve else None
        if self._curve:
            self._curve.client(self._sock)
        for topic in p.topics or [""]:
            self._sock.subscribe(topic)
        self._sock.connect(p.endpoint)

    def frames(self) -> Iterator[Frame]:
        p = self.params
        wanted = {t.encode() for t in p.topics}
        ended: set[bytes] = set()
        while not self._closed.is_set():
            if not self._sock.poll(POLL_MS):
                continue
            topic, *parts = self._sock.recv_multipart(copy=False)
            topic = topic.bytes
            if wanted and topic not in wanted:  # SUB filters by prefix only
                self.unexpected += 1
                continue
            try:
                msg = decode(parts)
            except WireError:
                self.rejected += 1
                continue
            if isinstance(msg, EndOfStream):
                ended.add(topic)
                if p.until_eos and (not wanted or ended >= wanted):
                    return
            elif msg.kind in p.kinds:
                if msg.kind == "audio":
                    self._check_gap(topic, msg)
                yield msg
            else:
                self.unexpected += 1

    def _check_gap(self, topic: bytes, frame: Frame) -> None:
        """Say (once per stream, then on each tenfold) when audio frames went missing:
        the publisher drops what a subscriber that falls behind its queue cannot take."""
        key = (topic, frame.stream)
        last = self._last_seq.get(key)
        self._last_seq[key] = frame.seq
        if last is None or frame.seq <= last + 1:
            return
        before = self.missing
        self.missing += frame.seq - last - 1
        if before == 0 or len(str(self.missing)) > len(str(before)):
            log.warning(f"source.zmq '{self.name}': {self.missing} audio frame(s) of "
                        f"stream '{frame.stream}' did not arrive so far (seq {last} -> "
                        f"{frame.seq}): the publisher dropped them (this graph fell "
                        "behind its queue) or the network lost them")

    def close(self) -> None:
        self._closed.set()

    def stop(self) -> None:
        if getattr(self, "_ctx", None) is None:
            return
        self._closed.set()
        self._sock.close()
        if getattr(self, "_curve", None):
            self._curve.close()
        self._ctx.term()
        self._ctx = None
        if self.rejected:
            log.warning("source.zmq '%s': dropped %d malformed messages", self.name,
                        self.rejected)
