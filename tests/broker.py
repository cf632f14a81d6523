"""A real MQTT broker for tests: Debian's mosquitto on a free port (skipped, saying how to
install it, where it is absent), and a subscriber that records what it receives."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port


class Mosquitto:
    """mosquitto on 127.0.0.1:PORT, with persistence (sessions and retained messages
    survive a stop), optionally with one user and password."""

    def __init__(self, folder: Path, user: tuple[str, str] | None = None) -> None:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                            if os.path.exists("/usr/sbin/mosquitto") else None)
        if exe is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.exe, self.folder, self.port = exe, folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {folder}/", "autosave_interval 1",
                 f"log_dest file {folder}/mosquitto.log"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to user 'mosquitto', who cannot write here
        if user is None:
            lines.append("allow_anonymous true")
        else:
            passwd = folder / "passwd"
            subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), *user], check=True,
                           capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # saves its database (sessions, retained) first
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """Records every message of ``topics`` (QoS 1). With ``session``, a persistent session
    (a fixed client id, clean_session false): the broker keeps what it misses, also across
    a broker restart."""

    def __init__(self, port: int, topics: list[str], session: str | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []  # (topic, payload, retained)
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=session or "", clean_session=session is None)
        if auth:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(0.1, 0.5)
        subscribed = threading.Event()

        def on_connect(client: Any, *_: Any) -> None:
            client.subscribe([(t, 1) for t in topics])

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            with self.lock:
                self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port, 5)
        self.client.loop_start()
        assert subscribed.wait(10), "subscription not acknowledged"

    def on(self, topic: str) -> list[str]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, topic: str, count: int, seconds: float = 20) -> list[str]:
        deadline = time.monotonic() + seconds
        while len(self.on(topic)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.on(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained(port: int, topics: list[str], auth: tuple[str, str] | None = None,
             settle: float = 1.0) -> dict[str, str]:
    """What a client connecting now receives as retained messages."""
    sub = Subscriber(port, topics, auth=auth)
    time.sleep(settle)
    sub.close()
    return {t: p for t, p, r in sub.messages if r}
