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
from collections.abc import Callable

PARENT_ENV = "MTLKIT_RUN_PID"


def when_orphaned(action: Callable[[], object], poll: float = 0.1) -> None:
    """Call ``action`` in a daemon thread as soon as the process that started this one is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        action()

    threading.Thread(target=watch, name="mtlkit-when-orphaned", daemon=True).start()


def install() -> bool:
    """Kill this process group once ``mtlkit run`` is gone, when ``mtlkit run`` started this process (a
    kernel leading its own group); True if installed."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if parent <= 1 or os.getppid() != parent or os.getpgrp() != os.getpid():
        return False  # not a kernel of `mtlkit run`, or not leading its own group: never kill others
    when_orphaned(lambda: os.killpg(os.getpgrp(), signal.SIGKILL))
    return True


install()
