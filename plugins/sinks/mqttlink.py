"""The MQTT link of ``sink.mqtt``: one thread that connects, reconnects with backoff, and
delivers queued messages in order, each kept until the broker acknowledges it (QoS 1).

Every connection uses a fresh paho client, so nothing of a dead connection is resent
behind the link's back: messages not acknowledged when a connection drops go back to the
front of the queue and are sent again, in order, on the next one (at least once: the
broker may see one twice). *State* topics (``set_state``) keep only their latest value,
which is (re)published, retained, after the queued messages on every connection.
The queue is bounded (the oldest are dropped and counted) and, with a spool file, also on
disk: the file holds every queued message since the queue was last empty, so messages a
stopped or killed process had not delivered are delivered at its next start.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_INFLIGHT = 20
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
CONNACK_WAIT_S = 10.0


class BrokerRefused(RuntimeError):
    """The broker refused the connection for good (credentials, authorisation)."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


@dataclass(frozen=True)
class Broker:
    """Where and how to connect."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca: str | None = None
    keepalive: int = 30
    will: Message | None = None

    def describe(self) -> str:
        return f"the MQTT broker at {self.host}:{self.port}"


class Link:
    """Queue, connect, deliver. ``put``/``set_state`` never block."""

    def __init__(self, broker: Broker, capacity: int, spool: str | None = None,
                 birth: list[Message] | None = None) -> None:
        self.broker, self.capacity, self.birth = broker, capacity, birth or []
        self.spool = Path(spool) if spool else None
        self.pending: deque[Message] = deque()
        self.inflight: dict[int, Message] = {}
        self.state: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.refused: str | None = None
        self.attempted = threading.Event()  # the first connection attempt has an outcome
        self.delivered = self.dropped = self.connections = 0
        self._down_logged = False
        if self.spool is not None:      # its folder, as every file sink makes its own
            self.spool.parent.mkdir(parents=True, exist_ok=True)
        if self.spool is not None and self.spool.exists():
            for line in self.spool.read_text().splitlines()[-capacity:]:
                self.pending.append(Message(**json.loads(line)))
            if self.pending:
                log.warning("sink.mqtt: %d message(s) from %s not known delivered: "
                            "sending them first", len(self.pending), self.spool)
        self._thread = threading.Thread(target=self._run, name="streamser:mqtt", daemon=True)

    # the node's side --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def put(self, msg: Message) -> None:
        with self._lock:
            if len(self.pending) + len(self.inflight) >= self.capacity and self.pending:
                self.pending.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("sink.mqtt: queue full (%d messages while %s is away): "
                                "dropping the oldest (counted)", self.capacity,
                                self.broker.describe())
                self._rewrite_spool()
            self.pending.append(msg)
            if self.spool is not None:
                with open(self.spool, "a") as fh:
                    fh.write(json.dumps(msg.__dict__) + "\n")
            self._lock.notify_all()

    def set_state(self, topic: str, payload: str) -> None:
        with self._lock:
            if self.state.get(topic) != payload:
                self.state[topic] = payload
                self._dirty.add(topic)
                self._lock.notify_all()

    def idle(self) -> bool:
        """Everything queued has been acknowledged and the state published."""
        with self._lock:
            return not self.pending and not self.inflight and not self._dirty

    def drain(self, seconds: float) -> bool:
        """Wait until :meth:`idle` (True), or ``seconds`` (False)."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while self.pending or self.inflight or self._dirty:
                left = deadline - time.monotonic()
                if left <= 0 or self.refused:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def close(self, last: Message | None = None, seconds: float = 1.0) -> None:
        """Publish ``last`` (the offline status) if connected, then disconnect."""
        if last is not None and self.connected.is_set():
            with self._lock:
                self.pending.append(last)
                self._lock.notify_all()
            self.drain(seconds)
        self._stop.set()
        self._thread.join(seconds + 2.0)

    # the link's thread ------------------------------------------------------------------
    def _client(self) -> Any:
        import paho.mqtt.client as mqtt

        b = self.broker
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=b.client_id,
                             protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        if b.tls:
            client.tls_set(ca_certs=b.ca, cert_reqs=ssl.CERT_REQUIRED)
        if b.will is not None:
            client.will_set(b.will.topic, b.will.payload, qos=1, retain=b.will.retain)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        return client

    def _run(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stop.is_set():
            client = self._client()
            try:
                client.connect(self.broker.host, self.broker.port, self.broker.keepalive)
            except (OSError, ValueError) as exc:
                self._down(f"cannot connect: {exc}")
            else:
                was_up = self._serve(client)
                if self.refused:
                    self.attempted.set()
                    return
                if was_up:
                    backoff = FIRST_BACKOFF_S
            self.attempted.set()
            self._stop.wait(backoff)
            backoff = min(2 * backoff, MAX_BACKOFF_S)

    def _serve(self, client: Any) -> bool:
        """Run one connection until it drops, a refusal, or a stop; True if it was up."""
        import paho.mqtt.client as mqtt

        began, was_up = time.monotonic(), False
        try:
            while not self._stop.is_set():
                if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS or self.refused:
                    break
                if self.connected.is_set():
                    was_up = True
                    self._pump(client)
                elif was_up or time.monotonic() - began > CONNACK_WAIT_S:
                    break
            if self._stop.is_set() and self.connected.is_set():
                client.disconnect()
                client.loop(timeout=0.2)
        finally:
            self.connected.clear()
            with self._lock:  # unacknowledged: to the front again, in order
                self.pending.extendleft(reversed(list(self.inflight.values())))
                self.inflight.clear()
                self._lock.notify_all()
        if was_up and not self._stop.is_set():
            self._down("connection lost")
        return was_up

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any,
                    _properties: Any) -> None:
        if reason.is_failure:
            text = str(reason)
            if reason.value in (0x86, 0x87, 0x04, 0x05) or "authori" in text.lower() \
                    or "password" in text.lower():
                self.refused = (f"{self.broker.describe()} refused the connection: {text} "
                                "(check the user name and password)")
            else:
                self._down(f"refused: {text}")
            return
        self.connections += 1
        if self._down_logged:
            log.warning("sink.mqtt: connected to %s again", self.broker.describe())
        self._down_logged = False
        for msg in self.birth:
            client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        with self._lock:
            self._dirty = set(self.state)  # the broker may have lost retained messages
        self.connected.set()
        self.attempted.set()

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any,
                    _properties: Any) -> None:
        with self._lock:
            if self.inflight.pop(mid, None) is not None:
                self.delivered += 1
            if not self.pending and not self.inflight and self.spool is not None:
                self.spool.write_text("")
            self._lock.notify_all()

    def _pump(self, client: Any) -> None:
        """Hand queued messages to the client in order; then the latest state values."""
        with self._lock:
            while self.pending and len(self.inflight) < MAX_INFLIGHT:
                msg = self.pending[0]
                info = client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
                if info.rc != 0:
                    return
                self.pending.popleft()
                self.inflight[info.mid] = msg
            if self.pending or self.inflight:
                return
            for topic in sorted(self._dirty):
                if client.publish(topic, self.state[topic], qos=1, retain=True).rc != 0:
                    return
                self._dirty.discard(topic)
            self._lock.notify_all()

    def _down(self, why: str) -> None:
        if not self._down_logged:
            log.warning("sink.mqtt: %s: %s; retrying with backoff (up to %g s), keeping "
                        "up to %d messages", self.broker.describe(), why, MAX_BACKOFF_S,
                        self.capacity)
            self._down_logged = True

    def _rewrite_spool(self) -> None:
        if self.spool is not None:
            lines = [json.dumps(m.__dict__) for m in [*self.inflight.values(), *self.pending]]
            self.spool.write_text("".join(line + "\n" for line in lines))
