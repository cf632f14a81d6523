"""sink.zmq: publish frames to other graphs, monitors and robot code over ZeroMQ PUB."""
from __future__ import annotations

import time

import zmq
from pydantic import Field, field_validator

from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.security import Curve
from streamser.wire import encode, encode_eos

LINGER_MS = 500
#: Default ``wait`` when no live source feeds the graph: a subscriber already trying to
#: connect (ZeroMQ retries every 0.1 s) is in by then.
FILE_WAIT = 0.5


def check_endpoint(endpoint: str) -> str:
    scheme, sep, rest = endpoint.partition("://")
    if not sep or not rest or scheme not in ("tcp", "ipc", "inproc"):
        raise ValueError("must be tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    return endpoint


class ZmqPubParams(Params):
    endpoint: str = Field("tcp://127.0.0.1:5556", description="Where the PUB socket binds "
                          "(127.0.0.1: this host only; tcp://0.0.0.0:PORT for every "
                          "interface, best with curve).")
    topic: str | None = Field(None, description="Topic of every message; the node name when "
                                                "unset.")
    queue: int = Field(1000, ge=1, description="Messages held per subscriber; a slower "
                       "subscriber loses what exceeds it (the graph never waits).")
    wait: float | None = Field(None, ge=0, le=3600, description="Seconds from the start "
                               "within which the first message waits for a subscriber to "
                               "the topic (0: publish at once; what is published before "
                               "anyone subscribes is lost). None: 0.5 s when a file feeds "
                               "the graph (a subscriber that connected before the run gets "
                               "every message), 0 when a live source does.")
    curve: str | None = Field(None, description="CurveZMQ secret key file (from 'streamser "
                              "keys'); only holders of that key can subscribe.",
                              json_schema_extra={"file": "input"})

    _endpoint = field_validator("endpoint")(check_endpoint)


class ZmqSink(Node):
    """Publish frames of any kind on a ZeroMQ PUB socket (topic, header, payload).

    Each message is ``[topic, header, payload]`` in the streamser wire format (events
    too); at end of stream ``[topic, end-of-stream header]``. A ``source.zmq`` node or
    ``streamser monitor`` subscribes to it.
    """

    Params = ZmqPubParams
    params: ZmqPubParams

    def start(self) -> None:
        p = self.params
        self._topic = (p.topic or self.name).encode()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.XPUB)  # XPUB: sees subscriptions, for `wait`
        self._sock.sndhwm = p.queue
        self._sock.linger = LINGER_MS
        self._curve = Curve(self._ctx, p.curve) if p.curve else None
        if self._curve:
            self._curve.server(self._sock)
        try:
            self._sock.bind(p.endpoint)
        except zmq.ZMQError as exc:
            raise RuntimeError(f"cannot bind {p.endpoint}: {exc}") from None
        wait = p.wait if p.wait is not None else 0.0 if self.live_input else FILE_WAIT
        self._deadline: float | None = time.monotonic() + wait if wait else None

    def _await_subscriber(self) -> None:
        """Before the first message: until a subscriber to the topic is there, or the
        ``wait`` since the start is over (XPUB hands us each subscription)."""
        deadline, self._deadline = self._deadline, None
        while deadline is not None and (left := deadline - time.monotonic()) > 0:
            if self._sock.poll(int(left * 1000) + 1):
                msg = self._sock.recv()  # b"\x01" + prefix: subscribe
                if msg[:1] == b"\x01" and self._topic.startswith(msg[1:]):
                    return

    def process(self, frame: Frame) -> tuple[()]:
        if self._deadline is not None:
            self._await_subscriber()
        self._sock.send_multipart([self._topic, *encode(frame)], copy=False)
        return ()

    def flush(self) -> tuple[()]:
        if self._deadline is not None:
            self._await_subscriber()
        self._sock.send_multipart([self._topic, *encode_eos(self._topic.decode())])
        return ()

    def stop(self) -> None:
        if getattr(self, "_ctx", None) is None:
            return
        self._sock.close()
        if getattr(self, "_curve", None):
            self._curve.close()
        self._ctx.term()
        self._ctx = None
