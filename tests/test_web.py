"""sink.web: the access rules over HTTP, and the page in a real browser (Debian's headless
Chromium driven by Selenium): it loads, shows each cry_start within 2 s of its emission,
the state, the health, and its button appends the false alarm to the file."""
from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import data_file, free_port

from streamser.executors import Control, run
from streamser.graph import GraphError, build_graph

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TOKEN = "a-test-token-of-some-length-42"


def scene(tmp_path: Path, seconds: float) -> Path:
    """Real audio (babycry_esc cries and silences), ``seconds`` long."""
    folder = data_file("babycry_esc")
    clips = [*sorted((folder / "silence").glob("*.flac"))[:4],
             *sorted((folder / "crying").glob("*.flac"))[:4]]
    x = np.concatenate([sf.read(p, dtype="float32")[0] for p in clips] * 3)
    path = tmp_path / "scene.flac"
    sf.write(path, x[:round(seconds * 16000)], 16000)
    return path


def web_graph(tmp_path: Path, audio: Path, port: int, events: list, realtime: bool = True,
              **web: object) -> dict:
    return {"name": "web_test", "nodes": {
        "mic": {"plugin": "source.file", "params": {"path": str(audio), "block": 1600,
                                                    "realtime": realtime}},
        "detect": {"plugin": "timed_events:TimedEvents", "input": "mic",
                   "params": {"events": events, "delay": 0.5}},
        "describe": {"plugin": "describe.cry", "input": ["mic", "detect"]},
        "web": {"plugin": "sink.web", "input": ["describe", "detect"], "params": {
            "port": port, "false_alarms": str(tmp_path / "false_alarms.jsonl"), **web}}}}


class Running:
    """A graph run in a thread, stopped at exit."""

    def __init__(self, graph: dict) -> None:
        self.control = Control()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(build_graph(graph),))
        self.thread.start()

    def _run(self, graph: object) -> None:
        try:
            run(graph, "inline", self.control)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_: object) -> None:
        self.control.request_stop()
        self.thread.join(10)


def get(url: str, headers: dict | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    for _ in range(100):
        try:
            with urllib.request.urlopen(req, timeout=5) as res:
                return res.status, res.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:  # not listening yet
            time.sleep(0.05)
    raise AssertionError(f"nothing answers at {url}")


# access --------------------------------------------------------------------------------

def test_binding_another_address_needs_a_token(tmp_path) -> None:
    audio = scene(tmp_path, 2.0)
    with pytest.raises(GraphError, match="host 0.0.0.0 is not a loopback address: set "
                                         "token_file"):
        build_graph(web_graph(tmp_path, audio, free_port(), [], host="0.0.0.0"))
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    with pytest.raises(GraphError, match="at least 16 characters"):
        build_graph(web_graph(tmp_path, audio, free_port(), [], host="0.0.0.0",
                              token_file=str(short)))


def test_page_assets_are_served_by_the_node_and_guarded(tmp_path) -> None:
    audio = scene(tmp_path, 8.0)
    port = free_port()
    with Running(web_graph(tmp_path, audio, port, [["cry_start", 1.0]])) as r:
        code, page = get(f"http://127.0.0.1:{port}/")
        assert code == 200 and b'<script src="app.js"' in page
        for asset in ("/", "/app.js", "/app.css"):
            code, body = get(f"http://127.0.0.1:{port}{asset}")
            assert code == 200 and b"http://" not in body and b"https://" not in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as res:
            assert "default-src 'self'" in res.headers["Content-Security-Policy"]
        # another Host name (DNS rebinding) is refused; a cross-site POST too
        assert get(f"http://127.0.0.1:{port}/state", {"Host": "evil.example:80"})[0] == 403
        body = json.dumps({"t": 1.0, "stream": "default"}).encode()
        assert get(f"http://127.0.0.1:{port}/false-alarm",
                   {"Content-Type": "application/json"}, body)[0] == 403
        assert r.error is None


def test_a_token_guards_every_request(tmp_path) -> None:
    audio = scene(tmp_path, 6.0)
    token = tmp_path / "web.token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    with Running(web_graph(tmp_path, audio, port, [], token_file=str(token))):
        assert get(f"http://127.0.0.1:{port}/")[0] == 401
        assert get(f"http://127.0.0.1:{port}/state?token=wrong-token-wrong-token")[0] == 401
        assert get(f"http://127.0.0.1:{port}/?token={TOKEN}")[0] == 200
        code, state = get(f"http://127.0.0.1:{port}/state",
                          {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and json.loads(state)["graph"] == "web_test"


# in a browser ----------------------------------------------------------------------------

@pytest.fixture
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("Chromium and its driver are not installed "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1100,1300"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


SEEN = """
window.__seen = {};
const mark = () => document.querySelectorAll('tr.ev-cry_start').forEach(tr => {
  if (!(tr.dataset.t in window.__seen)) window.__seen[tr.dataset.t] = Date.now() / 1000;
});
new MutationObserver(mark).observe(document.body, {childList: true, subtree: true});
mark();
"""


@pytest.mark.slow
def test_the_page_shows_each_cry_start_within_2_s(tmp_path, browser) -> None:
    from timed_events import EMITTED

    audio = scene(tmp_path, 22.0)
    port = free_port()
    events = [["cry_start", 4.0], ["cry_end", 9.0], ["cry_start", 13.0], ["cry_end", 17.5]]
    EMITTED.clear()
    with Running(web_graph(tmp_path, audio, port, events)) as r:
        browser.get(f"http://127.0.0.1:{port}/")
        browser.execute_script(SEEN)
        assert browser.find_element("id", "state").text == "quiet"
        crying = None
        deadline = time.time() + 25
        while time.time() < deadline and len(browser.execute_script(
                "return Object.keys(window.__seen)")) < 2:
            text = browser.find_element("id", "state").text
            crying = crying or (text if text.startswith("crying for 0:0") else None)
            time.sleep(0.1)
        seen = browser.execute_script("return window.__seen")
        assert crying is not None  # "crying for 0:0X" while a cry was on
        rows = browser.find_elements("css selector", "#health tbody tr")
        assert {row.text.split()[0] for row in rows} >= {"mic", "describe", "web"}
        browser.find_element("id", "false-alarm").click()
        time.sleep(1.0)
        marked = browser.find_element("id", "marked").text
        assert r.error is None
    delays = {float(t): seen[t] - EMITTED[("cry_start", float(t))] for t in seen}
    print(f"\ncry_start shown after its emission: {delays}")
    assert sorted(delays) == [4.0, 13.0]
    assert all(0 <= d <= 2.0 for d in delays.values()), delays
    assert "Marked the cry at 0:13" in marked
    rows = [json.loads(x) for x in (tmp_path / "false_alarms.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["t"] == 13.0 and rows[0]["stream"] == "default"
    assert rows[0]["marked_at"].endswith("Z") and rows[0]["graph"] == "web_test"
