"""No message stops a server partition: thousands of random and off-contract messages
to a `streamser node` listening on tcp, then a legitimate stream that must come out right."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import zmq
from conftest import free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamser.frames import Frame
from streamser.wire import encode, encode_eos, encode_mark

N_EXAMPLES, PER_EXAMPLE = 60, 100   # 6,000 messages
RATE = 16000

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4), max_leaves=20)


def _frame(kind: str, data: np.ndarray, sender: str, **meta: object) -> list[bytes]:
    return [bytes(p) for p in encode(Frame(kind, data, t=0.5, meta=dict(meta)), sender)]


def _header(parts: list[bytes], **changes: object) -> list[bytes]:
    head = json.loads(parts[0])
    head.update(changes)
    return [json.dumps(head).encode(), *parts[1:]]


def off_contract(sender: str) -> list[st.SearchStrategy]:
    """Wire-valid frames that break the port contract of ``filter.gain`` / ``sink.npy``
    (2-D audio, missing or mistyped meta, empty scores, a patch of shape [3], ...)."""
    audio1 = np.ones(64, np.float32)
    return [
        st.just(_frame("audio", np.ones((4, 4), np.float32), sender, sample_rate=RATE)),
        st.just(_frame("audio", audio1, sender)),                          # no sample_rate
        st.sampled_from(["x", -1, 0, None, True, [1]]).map(
            lambda v: _frame("audio", audio1, sender, sample_rate=v)),
        st.sampled_from(["x", -0.5, [], {}]).map(
            lambda v: _frame("audio", audio1, sender, sample_rate=RATE, hop=v)),
        st.just(_frame("scores", np.zeros(0, np.float32), sender)),       # empty scores
        st.just(_frame("patch", np.zeros(3, np.float32), sender)),        # shape [3]
        st.just(_frame("event", np.zeros(0, np.float32), sender)),        # no meta.event
        st.just(_frame("features", np.zeros(5, np.float32), sender)),     # 1-D features
        st.just(_header(_frame("audio", audio1, sender, sample_rate=RATE),
                        meta={"sample_rate": RATE, "upto": "later"})),
        st.just(_header(_frame("audio", audio1, sender, sample_rate=RATE), shape=[65])),
        st.just(_header(_frame("audio", audio1, sender, sample_rate=RATE), dtype="object")),
        st.just([b'{"v":1,"kind":"audio","stream":"s","seq":0,"t":0,"dtype":"float32",'
                 b'"shape":[1],"from":"' + sender.encode() + b'","meta":'
                 + b"[" * 25000 + b"]" * 25000 + b"}", b"\0" * 4]),          # nested 25,000
        st.just([b'{"v":1,"kind":"audio","t":NaN,"from":"' + sender.encode() + b'"}', b""]),
    ]


def messages() -> st.SearchStrategy:
    anything = st.lists(st.binary(max_size=200), min_size=0, max_size=4)
    json_junk = st.tuples(json_value, st.binary(max_size=64)).map(
        lambda x: [json.dumps(x[0]).encode(), x[1]])
    headers = st.fixed_dictionaries({"v": st.just(1)}, optional={
        "kind": st.sampled_from(["audio", "scores", "event", "nope"]),
        "stream": st.text(max_size=4), "seq": st.integers(), "t": st.floats(),
        "dtype": st.sampled_from(["float32", "int8", "object", "<U4"]),
        "shape": st.lists(st.integers(-2, 10**6), max_size=3), "meta": json_value,
        "from": st.sampled_from(["src", "gain", "intruder", 7]),
        "ctl": st.sampled_from(["eos", "mark", "x"]), "epoch": json_value})
    header_junk = st.tuples(headers, st.binary(max_size=64)).map(
        lambda x: [json.dumps(x[0]).encode(), x[1]] if "ctl" not in x[0] or
        x[0].get("from") not in ("src", "gain") else [json.dumps(x[0]).encode(), b""])
    controls = st.sampled_from([encode_eos("intruder"), encode_mark("intruder", (0, 0)),
                                encode_mark("src", (3, 0)), [b'{"v":1,"ctl":"eos"}'],
                                [b'{"v":1,"ctl":"mark","from":"src","epoch":[-1,0]}']])
    return st.one_of(anything, json_junk, header_junk, controls,
                     *off_contract("src"), *off_contract("gain"))


def test_server_partition_survives_fuzz_and_serves_afterwards(tmp_path) -> None:
    gain_port, save_port = free_port(), free_port()
    out = tmp_path / "out.npy"
    config = tmp_path / "g.yaml"
    config.write_text(json.dumps({"name": "fuzz", "nodes": {
        "src": {"plugin": "source.synth", "params": {"signal": "noise"}},
        "gain": {"plugin": "filter.gain", "input": "src", "params": {"db": -6},
                 "endpoint": f"tcp://127.0.0.1:{gain_port}"},
        "save": {"plugin": "sink.npy", "input": "gain", "params": {"path": str(out)},
                 "endpoint": f"tcp://127.0.0.1:{save_port}"}}}))
    server = subprocess.Popen([sys.executable, "-m", "streamser", "node", str(config),
                               "--only", "gain,save", "-q", "--metrics",
                               str(tmp_path / "m.json")], stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    socks = []
    for port in (gain_port, save_port):
        s = ctx.socket(zmq.PUSH)
        s.sndtimeo = 10_000
        s.connect(f"tcp://127.0.0.1:{port}")
        socks.append(s)
    sent = [0]
    try:
        @settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(st.tuples(st.booleans(), messages()), min_size=PER_EXAMPLE,
                        max_size=PER_EXAMPLE))
        def fuzz(batch: list[tuple[bool, list[bytes]]]) -> None:
            for to_save, parts in batch:
                if parts:
                    socks[to_save].send_multipart(parts)
                    sent[0] += 1
            assert server.poll() is None, server.stderr.read() if server.stderr else ""

        fuzz()
        assert sent[0] >= 5000
        blocks = [np.random.default_rng(i).standard_normal(400).astype(np.float32) * 0.1
                  for i in range(25)]
        for i, block in enumerate(blocks):   # the legitimate stream, then its end
            socks[0].send_multipart(encode(Frame("audio", block, t=i * 400 / RATE, seq=i,
                                                 meta={"sample_rate": RATE}), "src"))
        socks[0].send_multipart(encode_eos("src"))
        assert server.wait(timeout=60) == 0, server.stderr.read() if server.stderr else ""
    finally:
        for s in socks:
            s.close(linger=0)
        ctx.term()
        if server.poll() is None:
            server.kill()
    want = np.concatenate(blocks) * np.float32(10 ** (-6 / 20))
    assert np.load(out).tobytes() == want.astype(np.float32).tobytes()
    metrics = json.loads((tmp_path / "m.json").read_text())
    refused = sum(m["rejected"] + m["errors"] for m in metrics.values())
    assert refused >= sent[0] - 50      # a few random headers may be valid marks (ignored)
