"""The two nodes ``streamser.open`` puts into a graph: the source of pushed audio and the
tap that hands events back. They reach their pipeline through a channel id registered in
this process, so they run in the inline and threads executors only; they are not plugins
to name in a graph file (``streamser plugins`` does not list them)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from .frames import Frame
from .jsonlines import strict_dumps
from .node import Node, Params, Source

_CHANNELS: dict[str, Any] = {}


def register(channel: Any) -> None:
    """Make ``channel`` (an ``api._Channel``) reachable by its ``id``."""
    _CHANNELS[channel.id] = channel


def unregister(channel_id: str) -> None:
    _CHANNELS.pop(channel_id, None)


def _channel(channel_id: str) -> Any:
    try:
        return _CHANNELS[channel_id]
    except KeyError:
        raise RuntimeError("this node belongs to a streamser.open() pipeline of this "
                           "process, and that pipeline is gone") from None


class PushParams(Params):
    channel: str = Field(description="The pipeline's channel id.")
    sample_rate: int | None = Field(None, ge=1000, le=768000, description="Rate of the "
                                    "pushed audio (None: not known yet).")


class PushSource(Source):
    """Audio pushed from Python (``streamser.open(...).push``)."""

    Params = PushParams
    outputs = ("audio",)
    params: PushParams

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, PushParams)
        return params.sample_rate

    def frames(self) -> Iterator[Frame]:
        """The frames pushed, until the pipeline closes (threads executor)."""
        frames = _channel(self.params.channel).frames
        while (frame := frames.get()) is not None:
            yield frame

    def close(self) -> None:
        """A stop request: end :meth:`frames` (a full queue already ends it soon)."""
        try:
            _channel(self.params.channel).frames.put_nowait(None)
        except Exception:  # noqa: BLE001 - full (frames still flow) or gone: nothing to do
            pass


class TapParams(Params):
    channel: str = Field(description="The pipeline's channel id.")


class EventTap(Node):
    """Hand each event to the pipeline, as ``sink.events`` would write it."""

    Params = TapParams
    inputs = ("event",)
    params: TapParams

    def start(self) -> None:
        self._channel = _channel(self.params.channel)

    def process(self, frame: Frame) -> tuple[()]:
        self._channel.event(json.loads(strict_dumps(frame.meta)))
        return ()
