"""``python -m streamser`` and the ``streamser`` command: a stop signal that arrives while
the command is still importing exits 0 at once (the CLI installs its own handlers later)."""
import os
import signal
import sys


def _early_stop(signum: int, _frame: object) -> None:
    os._exit(0)  # nothing to flush yet; skip the interpreter's teardown


def _die_with_parent(argv: list[str]) -> None:
    """A child of the processes executor (``--parent PID``): SIGTERM when the parent dies
    (Linux PR_SET_PDEATHSIG), and exit now if it already has."""
    if "--parent" not in argv:
        return
    try:
        parent = int(argv[argv.index("--parent") + 1])
    except (IndexError, ValueError):
        return
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


def main() -> None:
    signal.signal(signal.SIGINT, _early_stop)
    signal.signal(signal.SIGTERM, _early_stop)
    _die_with_parent(sys.argv)
    # the command uses no pydantic plugin; looking for them scans every installed package
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from .cli.app import main as cli_main  # the command modules load lazily from here
    cli_main()


if __name__ == "__main__":
    main()
