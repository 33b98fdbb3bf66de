"""How a ``harness`` process stops, and how the processes it starts stop with it.

- **SIGTERM is Ctrl-C.** :func:`install` (called once by the CLI) makes SIGTERM raise
  :class:`Terminated`, a :class:`KeyboardInterrupt`, in the main thread: every place that handles
  Ctrl-C (stop the load, write what was collected, mark the run ``aborted``) handles what CI
  runners and ``timeout`` send as well. :func:`interrupt_reason` names the signal for the
  manifest. A second SIGTERM while the first is being handled is ignored (SIGKILL remains).
- **Closing a run folder is not cut short.** Inside :func:`deferred` (the samples merge, the
  derived files, the manifest, the report, the history) SIGTERM and Ctrl-C are noted, not raised;
  :func:`stop_requested` tells the caller one came, so no further run starts.
- **Children die with the harness.** A child started with :func:`child_env` calls
  :func:`die_with_parent` first thing: on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so even a
  SIGKILL of the harness stops it, and an immediate exit if the harness is already gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

#: The environment variable carrying the harness's pid to the processes it starts.
PARENT_PID_ENV = "HARNESS_PARENT_PID"
_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """A termination signal (SIGTERM), raised in the main thread like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signame: str = "SIGTERM") -> None:
        super().__init__(signame)
        self.signame = signame


class _State:
    raised = False  # a Terminated was raised: the harness is stopping
    deferring = 0  # nesting depth of deferred()
    pending: str | None = None  # the signal noted while deferring


def interrupt_reason(exc: BaseException) -> str:
    """The manifest's ``abort_reason`` for an interrupt: the signal's name, or Ctrl-C."""
    if isinstance(exc, Terminated):
        return f"interrupted ({exc.signame})"
    return "interrupted (Ctrl-C)"


def _note(name: str) -> None:
    if _State.pending is None:
        sys.stderr.write(f"{name} received: finishing the run folder, then stopping\n")
        sys.stderr.flush()
    _State.pending = _State.pending or name


def _on_term(signum: int, frame: FrameType | None) -> None:
    if _State.deferring:
        _note("SIGTERM")
        return
    if _State.raised:
        return  # already stopping: let that finish (a SIGKILL still ends everything)
    _State.raised = True
    _State.pending = "SIGTERM"
    raise Terminated("SIGTERM")


def _on_int(signum: int, frame: FrameType | None) -> None:
    if _State.deferring:
        _note("Ctrl-C")
        return
    _State.pending = _State.pending or "Ctrl-C"
    raise KeyboardInterrupt


def install() -> None:
    """SIGTERM raises :class:`Terminated`; both it and Ctrl-C wait while :func:`deferred`.
    Starts afresh (nothing received); a no-op outside the main thread (signals go there); a signal
    the process was started ignoring (``nohup``, a background job) stays ignored."""
    reset()
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _on_term)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started ignoring it
        signal.signal(signal.SIGINT, _on_int)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block that a SIGTERM or Ctrl-C does not interrupt (they are noted for afterwards)."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1


def stop_requested() -> str | None:
    """The signal ("SIGTERM", "Ctrl-C") that asked this process to stop, or None."""
    return _State.pending


def reset() -> None:
    """Forget what was received (tests running several commands in one process)."""
    _State.raised, _State.deferring, _State.pending = False, 0, None


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must not outlive this process (see :func:`die_with_parent`)."""
    return {**(os.environ if env is None else env), PARENT_PID_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """In a child started with :func:`child_env`: be killed when the parent dies (Linux), and exit
    now if it already has (the child was re-parented before it got here)."""
    parent = os.environ.pop(PARENT_PID_ENV, None)  # not inherited further: it names our parent only
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if str(os.getppid()) != parent:
        os._exit(3)
