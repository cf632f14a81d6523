"""A robot that acts on the cry descriptors, over MQTT: it soothes while a cry is steady,
and calls the parents after (about) two minutes of rising intensity.

    python examples/soothe.py --prefix streamser/cry_robot_home [--host H] [--port P]
        [--credentials FILE] [--soothe-cmd 'aplay lullaby.wav']

It reads ``PREFIX/events`` (what ``sink.mqtt`` publishes) and publishes its decisions on
``PREFIX/robot``: ``{"action": "soothe" | "stop" | "call_parents", ...}``; a Home
Assistant automation can turn ``call_parents`` into a phone notification (docs/home.md).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Seconds of cry updates that make "two minutes of rising intensity".
RISING_FOR_S = 120.0
#: How much each 30 s quarter of those two minutes must be more intense than the last.
STEP = 0.05
#: Least stream time between two soothe actions of one cry.
SOOTHE_EVERY_S = 10.0


@dataclass
class Soother:
    """The decisions, from events alone (no MQTT here, so they can be tested on real runs).

    - ``soothe`` on a ``cry_update`` whose trend is ``steady`` (at most every 10 s);
    - ``call_parents`` once per cry after two minutes of rising intensity: each 30 s
      quarter of the cry's last two minutes more intense than the one before (mean
      intensity up by at least 0.05);
    - ``stop`` at ``cry_end``.
    """

    updates: deque[tuple[float, float, str]] = field(default_factory=deque)  # t, intensity, trend
    start: float | None = None
    soothed: float | None = None
    called: bool = False

    def on(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        name, t = event.get("event"), float(event.get("t", 0.0))
        if name == "cry_start":
            self.updates.clear()
            self.start, self.soothed, self.called = t, None, False
            return []
        if name == "cry_end":
            self.start = None
            return [{"action": "stop", "t": t}]
        if name != "cry_update" or event.get("intensity") is None:
            return []
        self.updates.append((t, float(event["intensity"]), str(event.get("trend"))))
        while self.updates and self.updates[0][0] < t - RISING_FOR_S:
            self.updates.popleft()
        actions = []
        if event.get("trend") == "steady" and (self.soothed is None or
                                               t - self.soothed >= SOOTHE_EVERY_S):
            self.soothed = t
            actions.append({"action": "soothe", "t": t, "intensity": event["intensity"]})
        if not self.called and self._rising_for_two_minutes(t):
            self.called = True
            actions.append({"action": "call_parents", "t": t, "since": self.start,
                            "intensity": event["intensity"]})
        return actions

    def _rising_for_two_minutes(self, t: float) -> bool:
        """The cry's last two minutes, in four quarters of 30 s: each quarter's mean
        intensity exceeds the one before by at least STEP (a rise that lasted, not a
        burst)."""
        span = list(self.updates)
        if self.start is None or not span or span[0][0] > t - RISING_FOR_S + 5.0:
            return False
        quarter = RISING_FOR_S / 4
        means = []
        for k in range(4):
            lo = t - RISING_FOR_S + k * quarter
            inside = [i for u, i, _ in span if lo <= u < lo + quarter + 1e-9]
            if not inside:
                return False
            means.append(sum(inside) / len(inside))
        return all(b - a >= STEP for a, b in zip(means, means[1:]))


def main(argv: list[str] | None = None) -> int:
    import paho.mqtt.client as mqtt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--prefix", default="streamser/cry_robot_home")
    ap.add_argument("--credentials", help="file whose first line is USER:PASSWORD")
    ap.add_argument("--soothe-cmd", help="program run on each soothe action")
    args = ap.parse_args(argv)
    robot = Soother()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if args.credentials:
        user, _, password = open(args.credentials).readline().strip().partition(":")
        client.username_pw_set(user, password)

    def on_connect(c: Any, *_: Any) -> None:
        c.subscribe(f"{args.prefix}/events", qos=1)

    def on_message(c: Any, _u: Any, msg: Any) -> None:
        for action in robot.on(json.loads(msg.payload)):
            c.publish(f"{args.prefix}/robot", json.dumps(action), qos=1)
            print(json.dumps(action), flush=True)
            if action["action"] == "soothe" and args.soothe_cmd:
                subprocess.Popen(shlex.split(args.soothe_cmd))

    client.on_connect, client.on_message = on_connect, on_message
    try:
        client.connect(args.host, args.port, 30)
    except OSError as exc:
        print(f"error: cannot connect to {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        client.loop_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
