"""The bundled YAMNet as a first-class model: listed with its origin and license, run by
``infer`` after ``window.patch``, and the tagger / zero-shot nodes on its scores."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamser.frames import Frame
from streamser.plugins.scores import ScoresSelect, ScoresTopk

from .conftest import ROOT, cli, data_file

CRY_CLASSES = {"Baby cry, infant cry", "Crying, sobbing"}


def test_models_lists_yamnet_with_origin_license_and_notice() -> None:
    r = cli("models", "--json")
    assert r.returncode == 0, r.stderr
    yamnet = next(m for m in json.loads(r.stdout) if m["name"] == "yamnet")
    assert len(yamnet["labels"]) == 521 and CRY_CLASSES <= set(yamnet["labels"])
    assert yamnet["license"] == "Apache-2.0" and "yamnet" in yamnet["origin"].lower()
    assert ".int8.tflite" in yamnet["builds"]
    notice = (ROOT / "streamser" / "zoo" / "NOTICE").read_text()
    assert "YAMNet" in notice and "Apache License, Version 2.0" in notice


def test_tagger_names_a_real_cry_among_audioset_cry_classes(tmp_path: Path) -> None:
    clip = data_file("babycry_esc/crying/1-22694-A.flac")
    events = tmp_path / "sounds.jsonl"
    r = cli("run", str(ROOT / "configs" / "sound_tagger.yaml"), "--input", str(clip),
            "--events", str(events), "-q", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    found = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(found) >= 8                          # 5 s: a patch every 0.48 s
    assert all(e["event"] == "sound" and 1 <= len(e["top"]) <= 3 for e in found)
    tops = [e["top"][0][0] for e in found]
    # the clip's most frequent top class is one of AudioSet's cry classes
    assert max(set(tops), key=tops.count) in CRY_CLASSES


def test_tagger_on_laughter_does_not_say_cry(tmp_path: Path) -> None:
    clip = data_file("babycry_esc/laugh/" + sorted(
        p.name for p in data_file("babycry_esc/laugh").iterdir())[0])
    events = tmp_path / "sounds.jsonl"
    r = cli("run", str(ROOT / "configs" / "sound_tagger.yaml"), "--input", str(clip),
            "--events", str(events), "-q", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    tops = [json.loads(line)["top"][0][0] for line in events.read_text().splitlines()]
    assert tops and sum(t in CRY_CLASSES for t in tops) < len(tops) / 2


def _scores(values: dict[str, float]) -> Frame:
    labels = list(values)
    return Frame("scores", np.array(list(values.values()), np.float32), t=1.0, seq=0,
                 stream="s", meta={"labels": labels, "upto": 1.96, "hop": 0.48})


def test_select_folds_classes_into_groups() -> None:
    node = ScoresSelect(ScoresSelect.Params(classes={"cry": ["a", "b"]}, reduce="max"), "sel")
    node.start()
    (out,) = node.process(_scores({"a": 0.2, "b": 0.7, "c": 0.9}))
    assert out.meta["labels"] == ["cry", "other"] and out.meta["model"] == "select"
    np.testing.assert_allclose(out.data, [0.7, 0.3])
    node = ScoresSelect(ScoresSelect.Params(classes={"cry": ["a", "b"]}, reduce="sum"), "sel")
    node.start()
    (out,) = node.process(_scores({"a": 0.6, "b": 0.7, "c": 0}))
    np.testing.assert_allclose(out.data, [1, 0])
    with pytest.raises(ValueError, match="class 'a' not among"):
        node.process(_scores({"x": 0.1, "y": 0.2}))


def test_topk_event_fields() -> None:
    node = ScoresTopk(ScoresTopk.Params(k=2, min_score=0.25), "top")
    (event,) = node.process(_scores({"a": 0.2, "b": 0.7, "c": 0.3}))
    assert event.kind == "event"
    assert event.meta == {"event": "sound", "stream": "s", "t": 1.0, "emitted_at": 1.96,
                          "top": [["b", 0.7], ["c", 0.3]]}
    assert node.process(_scores({"a": 0.1, "b": 0.2})) == []
