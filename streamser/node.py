"""The node API: params, ports, and four verbs (start, process, flush, stop).

The base classes stay tiny on purpose: metrics, queues, transport and lifecycle
belong to the executor around a node, not to the node.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import UnionType
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from .frames import ANY, Frame
from .ports import KIND_PORTS, Port
from .streams import IDLE_SECONDS, MAX_STREAMS, StreamStates


class Params(BaseModel):
    """Base of every node's params. Declare fields with ``pydantic.Field(default,
    ge=..., le=..., description="...")``: the description is the param's doc line."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Node:
    """A processing node. Subclasses set ``Params``, ``inputs`` and ``outputs``.

    The first line of the class docstring is the plugin's one-line description.
    """

    Params: ClassVar[type[Params]] = Params
    #: Frame kinds accepted on the input port (``"*"`` accepts any kind).
    inputs: ClassVar[tuple[str, ...]] = (ANY,)
    #: Frame kinds this node may emit.
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Params, name: str = "") -> None:
        self.params = params
        self.name = name
        #: The name of the graph the node runs in (set by the executor; "" outside one).
        self.graph_name = ""
        #: Idle seconds and count bounding per-stream state (graph setting ``streams``).
        self.stream_limits: tuple[float | None, int] = (IDLE_SECONDS, MAX_STREAMS)
        #: Whether a live source (a microphone, a paced or remote one) feeds this node,
        #: as the graph says (a file's frames come as fast as they are read).
        self.live_input = False

    def stream_states(self) -> StreamStates[Any]:
        """A mapping for per-stream state (stream id -> state) that forgets idle streams
        and keeps at most a bounded number (``streams`` in the graph); use it in
        :meth:`start` instead of a ``dict``."""
        idle, cap = self.stream_limits
        return StreamStates(idle, cap)

    @classmethod
    def output_kinds(cls, params: Params, input_kinds: frozenset[str]) -> frozenset[str]:
        """Kinds emitted given the params and the kinds arriving (override if they vary)."""
        return frozenset(cls.outputs)

    def port(self, kind: str) -> Port | None:
        """The contract a frame of ``kind`` must meet to reach :meth:`process` (checked by
        the executor after :meth:`start`; None: not accepted). Override to narrow it."""
        if kind not in self.inputs and ANY not in self.inputs:
            return None
        return KIND_PORTS.get(kind)

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        """Validation: the sample rate of the audio this node emits, given the rate of the
        audio arriving (None: not known before the run). Raise ``ValueError`` for a rate
        the node cannot take. The default passes the rate through."""
        return rate

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        """Validation: what this node needs that is missing (an optional package, a model
        or input file), one phrase each; checked before anything runs."""
        return []

    def start(self) -> None:
        """Acquire resources (files, devices, models). Called once before any frame."""

    def process(self, frame: Frame) -> Iterable[Frame]:
        """Consume one frame and return the frames it produces (possibly none)."""
        return ()

    def flush(self) -> Iterable[Frame]:
        """End of stream on every input: emit what is still buffered."""
        return ()

    def stop(self) -> None:
        """Release resources. Called once, also after an error or a stop signal."""


class Source(Node):
    """A node with no input that produces frames by itself."""

    inputs: ClassVar[tuple[str, ...]] = ()

    @property
    def live(self) -> bool:
        """A live source never waits for consumers: frames it cannot hand over are dropped
        and counted. Sources with a ``realtime`` param are live when it is true."""
        return bool(getattr(self.params, "realtime", False))

    @property
    def paced(self) -> bool:
        """The executor releases each frame at its stream time (a device source that
        blocks on its own clock says False)."""
        return bool(getattr(self.params, "realtime", False))

    def frames(self) -> Iterator[Frame]:
        """Yield frames until the stream ends (or forever, for an endless source)."""
        raise NotImplementedError

    def length(self) -> float | None:
        """Seconds of stream this source will produce, if known (for progress bars)."""
        return None

    def close(self) -> None:
        """End :meth:`frames` early. Called from another thread (or a signal handler) when
        a stop is requested: keep it quick and thread-safe, e.g. set an Event that the
        waiting loop in ``frames`` polls."""


class ParamProblem(str):
    """A requirement phrase about one param: reported under ``params.NAME``, on its line."""

    param: str

    def __new__(cls, text: str, param: str) -> ParamProblem:
        obj = super().__new__(cls, text)
        obj.param = param
        return obj


class MissingPackage(str):
    """A requirement phrase saying that an optional package is not installed: it stops a
    run, but validating or drawing the graph goes on with a warning."""


def missing_module(module: str, extra: str, what: str) -> list[str]:
    """``[]`` when ``module`` can be imported (it is not imported), else one phrase saying
    which extra installs it."""
    import importlib.util
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return [] if found else [MissingPackage(
        f"{what} needs {module.split('.')[0]}, which is not installed: "
        f"pip install 'streamser[{extra}]'")]


def describe(cls: type[Node]) -> str:
    """The one-line description of a plugin class (its docstring's first line)."""
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else cls.__name__


def type_name(ann: Any) -> str:
    """A param type as a reader wants it: ``one of 'a', 'b'`` for a Literal, ``int | None``."""
    origin, args = get_origin(ann), get_args(ann)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None and args:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(map(type_name, args))}]"
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def param_table(cls: type[Node]) -> list[dict[str, Any]]:
    """Name, type, default, range and doc of every param, for ``streamser inspect``."""
    rows = []
    for name, f in cls.Params.model_fields.items():
        bounds = []
        for m in f.metadata:
            for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{sym} {getattr(m, attr)}")
        rows.append({"name": name, "type": type_name(f.annotation),
                     "default": "(required)" if f.is_required() else f.default,
                     "range": ", ".join(bounds), "doc": f.description or ""})
    return rows
