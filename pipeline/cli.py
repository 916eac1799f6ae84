"""What every command-line tool shares: one-line errors with exit code 2, clean SIGTERM, short usage errors.

A user's bad input (a missing or damaged file, a config that does not parse, an output that would
overwrite an input) must end in one line that names the file and what is wrong, never a traceback, and
must leave every file as it was. Tools therefore raise FileNotFoundError / ValueError / OSError with such
a line and `run_cli` prints it. Anything else is a bug of ours: one line too, exit 1, and the traceback
with PGGCN_DEBUG=1. SIGTERM is turned into SystemExit so that `finally` blocks and the atomic writers
remove their temp files (a SIGKILL leaves them to `fileio.remove_stale_temps`).
"""
from __future__ import annotations

import argparse
import logging
import os
import pickle
import signal
import sys
from typing import Callable, Sequence

from extract.fileio import one_line

BAD_INPUT_EXIT = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit 2) instead of the usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(BAD_INPUT_EXIT, f"error: {self.prog}: {message} (see --help)\n")


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


class _ConsoleHandler(logging.Handler):
    """The library's log lines as a tool's output: INFO on stdout as it is, WARNING and above on stderr as
    `warning: ...`. The streams are looked up per line, so a redirected sys.stdout (a test's capture) gets them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.WARNING:
                sys.stderr.write(f"warning: {text}\n")
                sys.stderr.flush()
            else:
                sys.stdout.write(text + "\n")
                sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never break a run
            self.handleError(record)


def setup_logging() -> None:
    """The project's library logs with `logging` (like timm and mmaction2); a tool shows it on the console."""
    root = logging.getLogger("pipeline")
    if not any(isinstance(h, _ConsoleHandler) for h in root.handlers):
        root.addHandler(_ConsoleHandler())
        root.setLevel(logging.INFO)
        root.propagate = False


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's main(argv) and turn every failure into one line on stderr and an exit code."""
    setup_logging()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread (a tool called from a test's worker thread)
            pass
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, OSError, pickle.UnpicklingError, EOFError, MemoryError) as e:
        if os.environ.get("PGGCN_DEBUG"):
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return BAD_INPUT_EXIT
    except Exception as e:
        if os.environ.get("PGGCN_DEBUG"):
            raise
        print(f"error: internal error ({type(e).__name__}: {one_line(e)}); run again with PGGCN_DEBUG=1 "
              f"for the traceback and please report it", file=sys.stderr)
        return 1
