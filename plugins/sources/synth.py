"""source.synth: test signals generated on the fly (no data files needed)."""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from streamser.dsp.cryscene import CryScene, CrySceneRenderer
from streamser.frames import Frame
from streamser.node import Params, Source


class SynthParams(Params):
    signal: Literal["sine", "noise", "silence", "cry_scene"] = Field(
        "sine", description="What to generate: sine, white noise, silence, or cry_scene "
                            "(infant-like cry episodes over room noise, optional babble; "
                            "true episode times from streamser.dsp.cryscene.cry_scene_truth).")
    freq: float = Field(440.0, gt=0, le=96000, description="Sine frequency in Hz.")
    level_db: float = Field(-20.0, ge=-120, le=0, description="Peak (sine), RMS (noise) or "
                                                              "cry RMS (cry_scene) in dBFS.")
    sample_rate: int = Field(16000, ge=1000, le=384000, description="Samples per second.")
    block: int = Field(1024, ge=1, le=1 << 22, description="Samples per frame.")
    duration: float | None = Field(None, gt=0, description="Seconds to generate; endless "
                                                           "when unset.")
    realtime: bool = Field(False, description="Pace frames in real time (a live source).")
    seed: int = Field(0, ge=0, description="Noise seed (the same seed gives the same noise).")
    stream: str = Field("default", min_length=1, description="Stream id put on every frame.")
    noise_db: float | None = Field(CryScene.noise_db, ge=-120, le=0, description="cry_scene: "
                                   "RMS of the room-noise bed in dBFS (null: none).")
    babble_db: float | None = Field(CryScene.babble_db, ge=-120, le=0, description="cry_scene: "
                                    "RMS of each of three babble voices in dBFS (null: none).")
    episodes: int | None = Field(CryScene.episodes, ge=0, description="cry_scene: number of "
                                 "cry episodes (null: as many as the duration holds).")
    episode_first: float = Field(CryScene.episode_first, ge=0, description="cry_scene: "
                                 "start of the first episode, seconds.")
    episode_period: float = Field(CryScene.episode_period, gt=0, description="cry_scene: "
                                  "seconds from one episode's start to the next.")
    episode_length: float = Field(CryScene.episode_length, ge=0.5, description="cry_scene: "
                                  "mean episode length in seconds (+-25 % by seed).")
    cry_times: list[tuple[float, float]] | None = Field(
        CryScene.cry_times, description="cry_scene: explicit [start, end] of each episode "
                                        "in seconds (replaces the regular layout).")

    @model_validator(mode="after")
    def _scene(self) -> SynthParams:
        if self.signal == "cry_scene":
            if self.sample_rate < 8000:
                raise ValueError("cry_scene needs sample_rate >= 8000")
            CryScene.from_params(self)
        return self


class SynthSource(Source):
    """Generate a sine, white noise, silence or a cry scene; endless unless a duration is given."""

    Params = SynthParams
    outputs = ("audio",)

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, SynthParams)
        return params.sample_rate
    params: SynthParams

    def length(self) -> float | None:
        return self.params.duration

    def frames(self) -> Iterator[Frame]:
        p = self.params
        rate, amp = p.sample_rate, 10 ** (p.level_db / 20)
        total = math.inf if p.duration is None else round(p.duration * rate)
        rng = np.random.default_rng(p.seed)
        scene = CrySceneRenderer(CryScene.from_params(p)) if p.signal == "cry_scene" else None
        meta = {"sample_rate": rate}
        pos, seq = 0, 0
        while pos < total:
            n = int(min(p.block, total - pos))
            if scene is not None:
                x = scene.read(n)
            elif p.signal == "sine":
                phase = (np.arange(pos, pos + n, dtype=np.int64) * p.freq % rate) / rate
                x = (amp * np.sin(2 * np.pi * phase)).astype(np.float32)
            elif p.signal == "noise":
                x = (amp * rng.standard_normal(n)).astype(np.float32)
            else:
                x = np.zeros(n, np.float32)
            yield Frame("audio", x, t=pos / rate, seq=seq, stream=p.stream, meta=meta)
            pos += n
            seq += 1
