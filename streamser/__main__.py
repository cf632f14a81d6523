"""``python -m streamser`` and the ``streamser`` command: a stop signal that arrives while
the command is still importing exits 0 at once (the CLI installs its own handlers later)."""
import os
import signal


def _early_stop(signum: int, _frame: object) -> None:
    os._exit(0)  # nothing to flush yet; skip the interpreter's teardown


def main() -> None:
    signal.signal(signal.SIGINT, _early_stop)
    signal.signal(signal.SIGTERM, _early_stop)
    from .cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
