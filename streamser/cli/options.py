"""Click options shared by several command modules."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

EXECUTORS = ("inline", "threads", "processes")

set_option = click.option("--set", "sets", multiple=True, metavar="NODE.PARAM=VALUE",
                          help="Override a node param (value parsed as YAML). Repeatable.")
metrics_option = click.option("--metrics", "metrics_file",
                              type=click.Path(dir_okay=False),
                              help="Write per-node metrics as JSON to this file.")
quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="Do not print the metrics table.")
input_option = click.option(
    "--input", "input_", metavar="FILE|synth:NAME|-",
    help="Replace the graph's one source with this file, a synth signal (10 s unless "
         "--set SOURCE.duration=...), or '-': WAV (or raw PCM, --input-format) on "
         "standard input.")
input_format_option = click.option(
    "--input-format", metavar="FORMAT:RATE:CHANNELS",
    help="The --input is raw PCM in this format, e.g. s16le:16000:1 (u8, s16le, s24le, "
         "s32le, f32le, f64le).")


def input_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--input`` and ``--input-format``."""
    return input_option(input_format_option(fn))
