"""The ``streamser`` command group: each command lives in the module of its group
(``streamser.cli.running``, ``graphs``, ``plugins``, ``io``, ``train``, ``export`` and
``evaluation``); those import only ``errors`` and ``options`` from here,
and load what they run (graph, executors, torch) when they run it."""
from __future__ import annotations

import click

from .. import __version__
from .evaluation import bench_cmd, mkstream_cmd, plot_events_cmd, score_events_cmd
from .adapt import adapt_cmd
from .export import export_cmd
from .graphs import graph_cmd, validate_cmd
from .io import devices_cmd, keys_cmd, listen_cmd, monitor_cmd
from .plugins import inspect_cmd, plugins_cmd
from .running import launch_cmd, node_cmd, run_cmd
from .service import service_cmd
from .train import eval_cmd, models_cmd, train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamser")
@click.option("--verbose", "-v", is_flag=True, help="Also show third-party libraries' log "
              "lines and warnings (hidden by default).")
def main(verbose: bool) -> None:
    """streamser: real-time streaming audio graphs over ZeroMQ."""
    from ..quiet import set_verbose
    set_verbose(verbose)


for _command in (run_cmd, launch_cmd, node_cmd, validate_cmd, plugins_cmd, inspect_cmd,
                 graph_cmd, keys_cmd, devices_cmd, monitor_cmd, listen_cmd, train_cmd,
                 eval_cmd, models_cmd, export_cmd, mkstream_cmd, score_events_cmd, bench_cmd,
                 plot_events_cmd, adapt_cmd, service_cmd):
    main.add_command(_command)
