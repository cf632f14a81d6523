"""examples/soothe.py acts on the descriptors of real cries: it soothes while the cry is
steady and calls the parents after about two minutes of rising intensity (a real cry
whose gain is ramped up), never when the cry holds its level; over a real broker too."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from broker import Mosquitto, Subscriber
from conftest import ROOT
from test_describe import cry_clips, describe, read, room


def soother_module():
    spec = importlib.util.spec_from_file_location("soothe", ROOT / "examples" / "soothe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["soothe"] = module
    spec.loader.exec_module(module)
    return module


def long_cry(clip, steady: float, ramp: float, gain_db: tuple[float, float]
             ) -> tuple[list[dict], float]:
    """Described events of a real cry (``clip`` repeated) after 10 s of room: ``steady``
    seconds at the first gain, then ``ramp`` seconds ramped to the second, updates every
    second."""
    x, rate = read(clip)
    n = round((steady + ramp) * rate)
    cry = np.tile(x, n // len(x) + 1)[:n]
    gain = np.concatenate([np.full(round(steady * rate), gain_db[0]),
                           np.linspace(*gain_db, n - round(steady * rate))])
    scene = np.concatenate([room(rate, 10.0), cry * (10 ** (gain / 20)).astype(np.float32)])
    end = len(scene) / rate
    return describe(scene, rate, 10.0, end, updates=tuple(np.arange(11.0, end, 1.0))), end


@pytest.mark.slow
def test_soothes_while_steady_and_calls_the_parents_after_two_minutes_rising() -> None:
    module = soother_module()
    for clip in cry_clips()[::20][:3]:
        events, end = long_cry(clip, steady=30.0, ramp=150.0, gain_db=(-30.0, 0.0))
        robot = module.Soother()
        actions = [a for e in events for a in robot.on(e)]
        calls = [a["t"] for a in actions if a["action"] == "call_parents"]
        soothes = [a["t"] for a in actions if a["action"] == "soothe"]
        assert len(calls) == 1 and 40.0 + 90.0 <= calls[0] < end, (clip.name, calls)
        assert any(t < 40.0 for t in soothes), (clip.name, soothes)  # the steady start
        assert actions[-1]["action"] == "stop"

        held, _ = long_cry(clip, steady=180.0, ramp=0.0, gain_db=(-15.0, -15.0))
        robot = module.Soother()
        assert not [a for e in held for a in robot.on(e) if a["action"] == "call_parents"]


@pytest.mark.slow
def test_the_example_acts_over_mqtt(tmp_path) -> None:
    pytest.importorskip("paho.mqtt", reason="paho-mqtt (the home extra) is not installed")
    events, _ = long_cry(cry_clips()[0], steady=30.0, ramp=150.0, gain_db=(-30.0, 0.0))
    broker = Mosquitto(tmp_path / "broker")
    prefix = "streamser/test_home"
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "soothe.py"),
                             "--port", str(broker.port), "--prefix", prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sub = Subscriber(broker.port, [f"{prefix}/robot"])
    try:
        time.sleep(1.0)  # the example subscribes
        import paho.mqtt.publish as publish
        publish.multiple([(f"{prefix}/events", json.dumps(e), 1, False) for e in events],
                         hostname="127.0.0.1", port=broker.port)
        got = [json.loads(p) for p in sub.wait_for(f"{prefix}/robot", 3)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                a["action"] == "stop" for a in got):
            time.sleep(0.1)
            got = [json.loads(p) for p in sub.on(f"{prefix}/robot")]
    finally:
        proc.terminate()
        proc.wait(10)
        sub.close()
        broker.stop()
    actions = [a["action"] for a in got]
    assert "soothe" in actions and actions.count("call_parents") == 1
    assert actions[-1] == "stop"
