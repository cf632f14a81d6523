"""sink.mqtt: the robot's events on an MQTT broker, with Home Assistant discovery.

Topics, under ``prefix`` (default ``streamser/<graph name>``):

- ``PREFIX/events``: every event, the same JSON as a line of the events file (QoS 1);
- ``PREFIX/cry``: ``ON`` while a cry is on, else ``OFF`` (retained);
- ``PREFIX/score``: the latest cry score, 0-1 (retained; from the ``scores`` frames when
  the node takes the detector's scores too, else from the events' ``score``);
- ``PREFIX/intensity``: the cry's intensity, 0-1, from ``describe.cry`` (retained; 0 once
  the cry ends);
- ``PREFIX/status``: ``online``, and ``offline`` at a clean stop or, as the broker's last
  will, when the process dies (retained);
- Home Assistant discovery configs (retained) under ``DISCOVERY/binary_sensor/ID/crying``
  (device class ``sound``), ``DISCOVERY/sensor/ID/cry_score`` and
  ``DISCOVERY/sensor/ID/cry_intensity``, one device, available while ``PREFIX/status``
  says ``online``.

Nothing is lost while the broker is away (:mod:`.mqttlink`): events are queued (bounded,
optionally on disk) and delivered in order when it comes back; at the end of a stream the
node waits up to ``drain`` seconds for the broker to take them.
"""
from __future__ import annotations

import json
import logging
import re
import socket
from typing import Any

from pydantic import Field

from streamser import __version__
from streamser.frames import Frame
from streamser.jsonlines import strict_dumps
from streamser.node import Node, Params, missing_module
from streamser.security import secret_line

from .mqttlink import Broker, BrokerRefused, Link, Message

log = logging.getLogger(__name__)


class MqttParams(Params):
    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with "
                      "TLS).")
    credentials: str | None = Field(None, description="File whose first line is "
                                    "USER:PASSWORD (keep it private: chmod 600); none: "
                                    "connect without.", json_schema_extra={"file": "input"})
    tls: bool = Field(False, description="Connect over TLS, verifying the broker.")
    ca: str | None = Field(None, description="CA certificates file for TLS (the system's "
                           "when unset).", json_schema_extra={"file": "input"})
    prefix: str | None = Field(None, description="Topic prefix; streamser/<graph name> "
                               "when unset.")
    discovery: str | None = Field("homeassistant", description="Home Assistant discovery "
                                  "prefix; null: publish no discovery configs.")
    device: str | None = Field(None, description="Device name shown in Home Assistant; "
                               "'streamser <graph name>' when unset.")
    label: str = Field("cry", description="Class whose score goes to PREFIX/score.")
    event: str = Field("cry", min_length=1, description="Event prefix: <event>_start turns "
                       "PREFIX/cry ON, <event>_end OFF.")
    queue: int = Field(10000, ge=10, le=10_000_000, description="Messages kept while the "
                       "broker is away; beyond it the oldest are dropped and counted.")
    spool: str | None = Field(None, description="File that also keeps the queued events on "
                              "disk, so that a restart delivers what a stopped process had "
                              "not.")
    score_every: float = Field(1.0, ge=0, le=3600, description="Seconds of stream time "
                               "between two PREFIX/score updates from scores frames.")
    drain: float = Field(10.0, ge=0, le=3600, description="Seconds the end of a stream "
                         "waits for the broker to take what is queued.")
    connect_wait: float = Field(5.0, ge=0, le=600, description="Seconds start() waits for "
                                "the first connection (a refused password fails the run; an "
                                "absent broker does not).")
    keepalive: int = Field(30, ge=5, le=3600, description="MQTT keep-alive (s).")


def read_credentials(path: str) -> tuple[str, str]:
    """USER:PASSWORD from the first line of ``path`` (ValueError: one line saying why)."""
    user, sep, password = secret_line(path, "credentials").partition(":")
    if not sep or not user:
        raise ValueError(f"credentials file {path}: its first line must be USER:PASSWORD")
    return user, password


def discovery_configs(discovery: str, prefix: str, device: dict[str, Any]
                      ) -> list[Message]:
    """Home Assistant MQTT discovery: a binary sensor and two sensors of one device."""
    node_id = device["identifiers"][0]
    common = {"availability_topic": f"{prefix}/status", "payload_available": "online",
              "payload_not_available": "offline", "qos": 1, "device": device}
    entities = [
        ("binary_sensor", "crying", {"name": "Crying", "device_class": "sound",
                                     "state_topic": f"{prefix}/cry", "payload_on": "ON",
                                     "payload_off": "OFF"}),
        ("sensor", "cry_score", {"name": "Cry score", "state_topic": f"{prefix}/score",
                                 "state_class": "measurement",
                                 "suggested_display_precision": 2}),
        ("sensor", "cry_intensity", {"name": "Cry intensity",
                                     "state_topic": f"{prefix}/intensity",
                                     "state_class": "measurement",
                                     "suggested_display_precision": 2}),
    ]
    return [Message(f"{discovery}/{component}/{node_id}/{object_id}/config",
                    json.dumps({**config, **common, "unique_id": f"{node_id}_{object_id}"}),
                    retain=True)
            for component, object_id, config in entities]


class MqttSink(Node):
    """Publish events to an MQTT broker (Home Assistant discovery; nothing lost offline)."""

    Params = MqttParams
    inputs = ("event", "scores")
    params: MqttParams

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        assert isinstance(params, MqttParams)
        needs = missing_module("paho.mqtt", "home", "sink.mqtt")
        if params.credentials:
            try:
                read_credentials(params.credentials)
            except ValueError as exc:
                needs.append(str(exc))
        return needs

    def start(self) -> None:
        p = self.params
        graph = self.graph_name or "graph"
        self.prefix = (p.prefix or f"streamser/{graph}").rstrip("/")
        node_id = re.sub(r"[^A-Za-z0-9_-]", "_", self.prefix)
        user, password = read_credentials(p.credentials) if p.credentials else (None, None)
        status = f"{self.prefix}/status"
        device = {"identifiers": [node_id], "name": p.device or f"streamser {graph}",
                  "manufacturer": "streamser", "model": graph, "sw_version": __version__}
        birth = [Message(status, "online", retain=True)]
        if p.discovery:
            birth = discovery_configs(p.discovery, self.prefix, device) + birth
        broker = Broker(p.host, p.port, f"streamser-{node_id}-{socket.gethostname()}"[:64],
                        user, password, p.tls, p.ca, p.keepalive,
                        will=Message(status, "offline", retain=True))
        self._offline = Message(status, "offline", retain=True)
        self._link = Link(broker, p.queue, p.spool, birth)
        self._open: set[str] = set()  # streams with a cry on
        self._scored: dict[str, float] = {}  # stream -> stream time of the last score sent
        self._link.set_state(f"{self.prefix}/cry", "OFF")
        self._link.start()
        self._link.attempted.wait(p.connect_wait)
        self._check()

    def _check(self) -> None:
        if self._link.refused:
            raise BrokerRefused(self._link.refused)

    def process(self, frame: Frame) -> tuple[()]:
        self._check()
        if frame.kind == "scores":
            self._score(frame)
            return ()
        event = frame.meta
        self._link.put(Message(f"{self.prefix}/events", strict_dumps(event)))
        name, prefix = event.get("event"), self.params.event
        if name in (f"{prefix}_start", f"{prefix}_update", f"{prefix}_end"):
            if name == f"{prefix}_end":
                self._open.discard(frame.stream)
            else:
                self._open.add(frame.stream)
            self._link.set_state(f"{self.prefix}/cry", "ON" if self._open else "OFF")
            if isinstance(event.get("score"), (int, float)) and name != f"{prefix}_end":
                self._link.set_state(f"{self.prefix}/score", f"{event['score']:.3f}")
            intensity = event.get("intensity")
            if name == f"{prefix}_end":
                intensity = 0.0
            if isinstance(intensity, (int, float)):
                self._link.set_state(f"{self.prefix}/intensity", f"{intensity:.3f}")
        return ()

    def _score(self, frame: Frame) -> None:
        upto = float(frame.meta.get("upto", frame.t))
        last = self._scored.get(frame.stream)
        if last is not None and upto - last < self.params.score_every:
            return
        labels = frame.meta.get("labels") or []
        column = labels.index(self.params.label) if self.params.label in labels else 0
        self._scored[frame.stream] = upto
        self._link.set_state(f"{self.prefix}/score", f"{float(frame.data[column]):.3f}")

    def flush(self) -> tuple[()]:
        if not self._link.drain(self.params.drain):
            self._check()
        return ()

    def stop(self) -> None:
        link = getattr(self, "_link", None)
        if link is None:
            return
        link.close(self._offline)
        self._link = None
        if link.pending or link.inflight or link.dropped:
            log.warning(
                "sink.mqtt '%s': %d event(s) delivered, %d not delivered%s, %d dropped "
                "(queue full)", self.name, link.delivered,
                len(link.pending) + len(link.inflight),
                f" (kept in {link.spool})" if link.spool else "", link.dropped)
