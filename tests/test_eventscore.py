"""mkstream builds labelled streams from real clips; score-events scores runs against them."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from streamser.evaluation.eventscore import (
    Detection,
    read_detections,
    read_segments,
    read_truth,
    render,
    score,
)

from .conftest import cli, data_file


def test_mkstream_truth_matches_the_audio(tmp_path: Path) -> None:
    manifests = [data_file(f"{m}/manifest.csv") for m in ("donateacry", "babycry_esc", "emodb")]
    out = tmp_path / "s.flac"
    r = cli("mkstream", *map(str, manifests), "--minutes", "1.5", "--test-k", "5",
            "--out", str(out), "--seed", "3")
    assert r.returncode == 0, r.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and 85 <= len(audio) / rate <= 130
    rows = list(csv.DictReader(open(out.with_suffix(".truth.csv"))))
    kinds = {row["kind"] for row in rows}
    assert {"speech", "laugh"} & kinds and any(k.startswith("cry") for k in kinds)
    starts = [float(row["start"]) for row in rows]
    assert starts == sorted(starts)
    for prev, row in zip(rows, rows[1:]):
        assert not (prev["kind"].startswith("cry") and row["kind"].startswith("cry"))
    for row in rows:   # every segment is audible where the truth says, quiet room tone between
        a, b = int(float(row["start"]) * rate), int(float(row["end"]) * rate)
        assert np.sqrt(np.mean(audio[a:b] ** 2)) > 10 ** (-45 / 20), row
    first = float(rows[0]["start"])
    assert np.sqrt(np.mean(audio[:int(first * rate) - 160] ** 2)) < 10 ** (-50 / 20)
    r2 = cli("mkstream", *map(str, manifests), "--minutes", "1.5", "--test-k", "5",
             "--out", str(tmp_path / "again.flac"), "--seed", "3")
    assert r2.returncode == 0
    assert (tmp_path / "again.truth.csv").read_text() == out.with_suffix(".truth.csv").read_text()


def _truth(path: Path, rows: list[tuple[float, float, str, str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["start", "end", "kind", "label", "source"])
        for r in rows:
            w.writerow([*r, "x.flac"])
    return path


def test_score_events_counts_matches_false_alarms_latency_and_needs(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "t.csv", [(0, 10, "speech", "anger"), (12, 18, "cry", "hungry"),
                                        (20, 30, "noise", "noise"),
                                        (32, 37, "cry_over_noise", "tired"),
                                        (40, 3640, "silence", "silence")])
    events = tmp_path / "e.jsonl"
    lines = [{"event": "cry_start", "stream": "default", "t": 12.4, "emitted_at": 12.9,
              "score": 0.9},
             {"event": "cry_end", "stream": "default", "t": 18.5, "emitted_at": 20.0,
              "start": 12.4, "label": "hungry"},
             {"event": "cry_start", "stream": "default", "t": 25.0, "emitted_at": 25.6},
             {"event": "cry_end", "stream": "default", "t": 26.0, "emitted_at": 27.5,
              "start": 25.0, "label": "burping"},
             {"event": "cry_start", "stream": "default", "t": 33.0, "emitted_at": 33.7}]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    episodes, length = read_truth(truth)
    dets = read_detections(events)
    assert len(episodes) == 2 and length == 3640 and len(dets) == 3
    assert dets[2].end == pytest.approx(33.7)            # open at the end: to the last time
    s = score(episodes, dets, length)
    assert s["recall"] == 1.0 and s["precision"] == pytest.approx(2 / 3)
    assert s["false_alarms"] == 1
    assert s["false_alarms_per_hour"] == pytest.approx(1 / ((3640 - 11) / 3600))
    assert s["latency_median_s"] == pytest.approx((0.9 + 1.7) / 2)
    assert s["need_accuracy"] == 0.5                     # hungry right; tired: no cry_end
    assert s["need_named"] == 1 and s["need_named_accuracy"] == 1.0
    # 0.5 s past the first cry's end, and the whole false alarm (1.0 s)
    assert s["non_cry_flagged_s"] == pytest.approx(1.5)
    assert s["non_cry_flagged_share"] == pytest.approx(1.5 / (3640 - 11))
    assert "named on 1, null on 1 (the model abstained); right on 100.0 % of the named" \
        in render(s)
    abstained = score(episodes, [Detection(12.4, 18.5, 12.9), Detection(33, 36, 33.7)],
                      length)
    assert "named on 0, null on 2 (the model abstained); no accuracy to give" \
        in render(abstained) and "0.0 %" not in render(abstained).split("guesses")[1]
    assert score(episodes, [], length)["f1"] == 0.0
    assert score(episodes, [Detection(100, 110, 100.5)], length)["false_alarms"] == 1
    r = cli("score-events", str(truth), str(events), "--json", str(tmp_path / "s.json"))
    assert r.returncode == 0 and "F1 0.800" in r.stdout
    assert json.loads((tmp_path / "s.json").read_text())["matched"] == 2
    bad = cli("score-events", str(events), str(events))
    assert bad.returncode == 1 and bad.stderr.startswith("error:")


def test_false_alarms_are_counted_by_the_kind_they_fall_on(tmp_path) -> None:
    """Each unmatched detection goes under the segment it overlaps most (gap: none)."""
    truth = tmp_path / "t.truth.csv"
    truth.write_text("start,end,kind,label,source\n0,5,cry,hungry,a\n6,10,noise,noise,b\n"
                     "11,15,speech,anger,c\n")
    episodes, length = read_truth(truth)
    dets = [Detection(1, 4, 1.5), Detection(7, 9.5, 7.5), Detection(9, 12.5, 9.5),
            Detection(10.2, 10.8, 10.5)]
    s = score(episodes, dets, length, read_segments(truth))
    assert s["false_alarms"] == 3
    assert s["false_alarms_by_kind"] == {"gap": 1, "noise": 1, "speech": 1}
    assert "noise 1" in render(s)
