"""The terminal front end: a thin layer over the Python API (:mod:`simmarket.api`).

:func:`main` is the console entry point. Its first act is to take charge of Ctrl-C and
SIGTERM, before the heavy imports of the model and the analysis begin, so a signal at any
moment ends the command with one line, never a traceback: before a run starts nothing is
created; while it runs, :func:`simmarket.api.run` turns the signal into a clean stop (what
was simulated is committed and marked ``interrupted``).
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import types
from collections.abc import Iterator, Sequence

EXIT_INTERRUPTED = 130

__all__ = ["main", "quiet_imports"]

#: whether Ctrl-C or SIGTERM has reached this process's handler
signalled = False


def _interrupt(signum, frame):  # noqa: ARG001
    global signalled
    signalled = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Around imports that load compiled extensions (the model's, through Numba).

    A Ctrl-C that lands inside an extension's own initialisation is handled by its C code,
    not ours: it prints the KeyboardInterrupt's traceback and raises an ImportError in its
    place. So stderr is held while the imports run: after a signal, the failure is the
    interrupt it was (and the held text is dropped); otherwise what was written goes out."""
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    except Exception:
        if signalled:
            raise KeyboardInterrupt from None
        sys.stderr.write(held.getvalue())
        raise
    sys.stderr.write(held.getvalue())


def _main(argv: Sequence[str] | None = None) -> int:
    """Run the ``simmarket`` command line; returns the exit code."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {}
    try:
        for s in signals:
            previous[s] = signal.signal(s, _interrupt)
        from simmarket.cli.main import main as command

        return command(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if argv is None:
            # the console entry point: the work is done, the process only exits now; a
            # signal from here on ends it at once, quietly (no Python code runs)
            for s in signals:
                signal.signal(s, signal.SIG_DFL)
            _forget_caught_interrupt()
        else:
            for s, h in previous.items():
                signal.signal(s, h)


def _forget_caught_interrupt() -> None:
    """Clear CPython's record of a KeyboardInterrupt that ended a string ``exec``.

    A Ctrl-C that lands while an imported module runs code from a string (``dataclasses`` and
    ``namedtuple`` build methods that way) sets a flag in CPython that survives our catching
    the KeyboardInterrupt; under ``python -m simmarket.cli`` the interpreter then ends by
    killing itself with SIGINT (exit -2) instead of exiting 130. Every string ``exec``
    clears the flag as it starts, so one harmless ``exec`` after the last possible interrupt
    (the handlers are already back to the default) keeps the exit code ours."""
    exec("None", {})  # noqa: S102


main = _main


class _Package(types.ModuleType):
    """``simmarket.cli.main`` names this function, as it always has, even once the module of
    the same name is imported (which would otherwise rebind the package's attribute; the
    module stays reachable as ``sys.modules["simmarket.cli.main"]``)."""

    def __setattr__(self, name: str, value) -> None:
        if name == "main" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
