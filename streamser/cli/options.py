"""Click options shared by several command modules."""
from __future__ import annotations

import click

EXECUTORS = ("inline", "threads", "processes")

set_option = click.option("--set", "sets", multiple=True, metavar="NODE.PARAM=VALUE",
                          help="Override a node param (value parsed as YAML). Repeatable.")
metrics_option = click.option("--metrics", "metrics_file",
                              type=click.Path(dir_okay=False),
                              help="Write per-node metrics as JSON to this file.")
quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="Do not print the metrics table.")
