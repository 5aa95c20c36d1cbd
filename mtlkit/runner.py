"""Running one study's notebook: papermill on a local, guarded kernel, into a staging folder that replaces
the study's folder in one atomic rename when every cell has run, with its progress shown meanwhile
(:class:`mtlkit.progress.ProgressLine`). :func:`run_study` is what ``mtlkit run`` and ``mtlkit replicate`` call.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import papermill as pm
from jupyter_client import AsyncKernelManager
from traitlets import default

from mtlkit import guard, replication
from mtlkit.host import PORTABLE_KERNELS
from mtlkit.params import ParameterError, StudySpec, validate
from mtlkit.progress import PROGRESS_ENV, ProgressLine
from mtlkit.results import REPO_DIR, atomic_write_text, replace_dir
from mtlkit.session import HEADLESS_ENV, OUT_ENV, STAGING_ENV, committed_dir, writable_folder


def _strip_checkout_path(path: Path) -> None:
    """Write the repository's absolute path out of an executed notebook (papermill records its input
    and output paths): committed outputs name files relative to the repository."""
    text = path.read_text(encoding="utf-8")
    clean = text.replace(str(REPO_DIR) + "/", "").replace(str(REPO_DIR), ".")
    if clean != text:
        atomic_write_text(path, clean)


class LocalKernelManager(AsyncKernelManager):
    """Starts a study's kernel on local IPC sockets instead of TCP (no network port is opened, and
    ipykernel's "running over TCP without encryption" warning is not printed on every run), guarded by
    :mod:`mtlkit.guard`: when this process is gone, the kernel kills its process group, workers included."""

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client sends SIGINT before its shutdown request, and ipykernel then logs "ERROR |
        # KeyboardInterrupt caught in kernel" after a notebook that ran to its end: nothing to interrupt then
        if not self.shutting_down:
            await super()._async_interrupt_kernel()

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        # The guard, not ipykernel's parent poller, ends an orphaned kernel (the poller would race it and
        # leave the workers). JPY_PARENT_PID = 1 turns the poller off without the stand-alone kernel's banner.
        kw["env"] = {**kw.get("env", os.environ), guard.PARENT_ENV: str(os.getpid()), "JPY_PARENT_PID": "1"}
        kw["independent"] = True
        await super()._async_launch_kernel(
            [*kernel_cmd, "--IPKernelApp.exec_lines=import mtlkit.guard"], **kw
        )


def execute(
    notebook: Path, output: Path, parameters: dict, cwd: Path, env: dict[str, str] | None = None
) -> None:
    """Execute ``notebook`` with papermill into ``output`` on a local kernel, headless (no progress bars),
    with ``env`` added to the kernel's environment for this run only."""
    caps = {k: os.environ.get(k, v) for k, v in PORTABLE_KERNELS.items()}  # set before the kernel starts
    env = {HEADLESS_ENV: "1", **caps, **(env or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            cwd=str(cwd),
            progress_bar=False,
            request_save_on_cell_execute=False,  # written once at the end (or on failure): 2-3 s per study
            kernel_name="python3",
            kernel_manager_class=LocalKernelManager,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold ``lock`` for one run into a folder; a second run into the same folder is refused."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another run is writing {lock.parent}; wait for it or use --out") from None
        yield


def study_folder(
    spec: StudySpec, mode: str | None, params: dict[str, str], out: str | None = None, create: bool = True
) -> tuple[dict[str, Any], Path]:
    """Every check of a run before any compute - what ``--dry-run`` checks too: the parameters resolved
    (:func:`~mtlkit.params.validate`), ``out`` a folder this process can write (made when ``create``), and
    the study's folder there not a symbolic link (the run replaces that folder whole). Returns the resolved
    parameters and the study's folder; raises :class:`~mtlkit.params.ParameterError` (one line)."""
    resolved = validate(spec, {**params, **({"mode": mode} if mode is not None else {})})
    if out is None:
        folder = committed_dir(spec.name, resolved["mode"])
    else:
        folder = writable_folder(out, "--out", create).resolve() / spec.name
    if folder.is_symlink():  # its staging and failed folders are the run's own: any link there is removed
        raise ParameterError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}); a run replaces that folder whole: "
            f"remove the link, or give --out the folder it points into"
        )
    return resolved, folder


def _remove(path: Path) -> None:
    """Remove ``path`` whatever it is (a folder, a file, a link): what a killed or failed run left."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _read_bytes(path: Path) -> bytes | None:
    """A file's bytes, or None when there is none (or it cannot be read)."""
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def _keep_failed(staging: Path, executed: Path, failed: Path) -> str:
    """After a failure: move the staging folder to ``failed`` (the run's partial outputs, for a reader),
    else remove it, so that nothing stays in ``.running``; what happened, in words. Never raises: the
    failure that got here is the one to report."""
    if not staging.is_dir() or staging.is_symlink():
        return "nothing of this run was kept"
    try:
        if executed.exists():
            _strip_checkout_path(executed)
        _remove(failed)
        os.rename(staging, failed)
        return f"this run's partial outputs and notebook: {failed}"
    except Exception as moved:  # noqa: BLE001 - whatever stops the move, the first failure is reported
        try:
            _remove(staging)
            return f"its partial outputs could not be kept ({_why(moved)}) and were removed"
        except Exception as removed:  # noqa: BLE001
            return f"its partial outputs are left in {staging} ({_why(removed)})"


def _why(e: BaseException) -> str:
    """An error in a few words: an OS error's reason and path, else its text."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror + (f" ({e.filename})" if e.filename else "")
    return str(e) or e.__class__.__name__


def run_study(spec: StudySpec, mode: str | None, params: dict[str, str], out: str | None = None) -> Path:
    """Check (:func:`study_folder`), then execute the notebook with papermill into a staging folder that
    replaces the study's folder in one atomic rename when every cell has run. A failed or interrupted run
    leaves the previous results untouched; its partial outputs and executed notebook go to
    ``<study>.failed/`` beside them, and nothing stays in the staging folder."""
    given = dict(params)
    if mode is not None:
        given["mode"] = mode
    resolved, folder = study_folder(spec, mode, params, out)
    inject = {k: resolved[k] for k in given} | {"mode": resolved["mode"]}
    staging = folder.with_name(f".{spec.name}.running")
    failed = folder.with_name(f"{spec.name}.failed")
    progress = folder.with_name(f".{spec.name}.progress")  # the kernel's sweeps report here
    with _exclusive(folder.with_name(f".{spec.name}.lock")), ProgressLine(spec.name, progress):
        step = f"clearing {staging}"
        executed = staging / f"{spec.name}.ipynb"
        try:
            _remove(staging)  # left by a killed run (we hold the lock)
            step = f"making {staging}"
            staging.mkdir(parents=True)
            step = "running the notebook"
            # The kernel learns its folders from its environment, not from injected parameters: the
            # executed copy, re-run by hand from results/, writes to the scratch folder like any Lab run.
            execute(
                spec.notebook,
                executed,
                inject,
                spec.notebook.parent,
                {OUT_ENV: str(folder), STAGING_ENV: str(staging), PROGRESS_ENV: str(progress)},
            )
            step = f"writing {executed}"
            _strip_checkout_path(executed)
            step = f"replacing {folder} with {staging}"
            previous = _read_bytes(folder / replication.FILE)
            replace_dir(staging, folder)
            if previous is not None:  # a re-run that changed only prose keeps its replication
                replication.carry_over(previous, folder, spec.notebook)
        except BaseException as e:
            kept = _keep_failed(staging, executed, failed)
            if isinstance(e, pm.PapermillExecutionError):
                raise RuntimeError(
                    f"{spec.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} (the previous results "
                    f"are untouched; {kept})"
                ) from None
            if isinstance(e, OSError):
                raise RuntimeError(
                    f"{spec.name} failed {step}: {_why(e)} (the previous results are untouched; {kept})"
                ) from None
            raise
        finally:
            if staging.is_symlink() or staging.is_file():
                staging.unlink()
        _remove(failed)  # an earlier failure is now stale
    return folder / f"{spec.name}.ipynb"
