"""The kernel's guard for ``mtlkit run``: stop means stop.

``mtlkit run`` starts each study's kernel with ``$MTLKIT_RUN_PID`` set to its own pid and runs ``import
mtlkit.guard`` at kernel start-up. The kernel leads a process group of its own, which its sweep workers
and their resource trackers join; when the ``mtlkit run`` process is gone - ended by SIGINT, SIGTERM or
even SIGKILL, which it cannot catch - the guard kills that whole group at once, so no kernel or worker
goes on computing (and writing caches) for nobody.
"""

from __future__ import annotations

import os
import signal
import threading
import time

PARENT_ENV = "MTLKIT_RUN_PID"


def watch(parent: int, poll: float = 0.1) -> None:
    """Block until ``parent`` is no longer this process's parent, then kill this process group."""
    while os.getppid() == parent:
        time.sleep(poll)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def install() -> bool:
    """Start :func:`watch` in a daemon thread when ``mtlkit run`` started this process; True if started."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if parent <= 1 or os.getppid() != parent or os.getpgrp() != os.getpid():
        return False  # not a kernel of `mtlkit run`, or not leading its own group: never kill others
    threading.Thread(target=watch, args=(parent,), name="mtlkit-guard", daemon=True).start()
    return True


install()
