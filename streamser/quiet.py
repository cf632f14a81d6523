"""Third-party log lines kept off the console unless asked for (``streamser -v``).

Native libraries print straight to file descriptor 2 (LiteRT's "Created TensorFlow Lite
XNNPACK delegate" line) and Python libraries warn on import (torchvision, torchao, absl);
streamser's own messages are the only ones a run or an export shows. ``-v`` sets
``STREAMSER_VERBOSE=1``, which child processes inherit, and everything shows again.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

VERBOSE_ENV = "STREAMSER_VERBOSE"
#: Loggers of libraries the export toolchain imports; kept at ERROR unless verbose.
NOISY_LOGGERS = ("absl", "torch", "torchao", "torchvision", "onnxscript", "tensorflow",
                 "jax", "ai_edge_quantizer", "litert_torch")


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def set_verbose(on: bool) -> None:
    if on:
        os.environ[VERBOSE_ENV] = "1"


@contextlib.contextmanager
def native_stderr() -> Iterator[TextIO]:
    """While the block runs, send whatever is written to fd 2 (native libraries, Python
    warnings) to /dev/null, unless verbose. Yields a stream to the real stderr for the
    caller's own messages."""
    if verbose():
        yield sys.stderr
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):       # no real fd 2 (an embedding host): nothing to hide
        yield sys.stderr
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    real = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        os.dup2(devnull, 2)
        yield real
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        real.close()


def quiet_libraries() -> None:
    """Silence third-party warnings and log lines (unless verbose): for commands that
    import torch and the converters (export, train, eval)."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GLOG_minloglevel", "3")
    warnings.filterwarnings("ignore")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
