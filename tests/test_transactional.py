"""A study's folder changes whole or not at all: a failed or killed run leaves the previous results
byte-identical, and study 04 never reads a ground truth that a killed study 03 run left behind."""

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from mtlkit import runner
from mtlkit.cli import main, run_study
from mtlkit.params import ParameterError, StudySpec
from mtlkit.studies import STUDIES

ROOT = Path(__file__).resolve().parents[1]


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden folders such as a cache excluded)."""
    return {
        f.relative_to(folder).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    }


@dataclass(frozen=True)
class _Spec(StudySpec):
    """A stand-in study whose notebook writes a file where ``mtlkit run`` says, then fails (or not)."""

    path: Path = Path()

    @property
    def notebook(self) -> Path:
        return self.path


def _spec(tmp_path: Path, fail: bool) -> _Spec:
    base = STUDIES["00_landscape"]
    return _Spec("toy", "a toy", "none", base.params, path=_notebook(tmp_path, fail))


def _notebook(tmp_path: Path, fail: bool) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os, pathlib\nmode = None"),
        nbformat.v4.new_code_cell(
            "pathlib.Path(os.environ['MTLKIT_STAGING'], 'metrics.csv').write_text('new')\n"
            + ("raise RuntimeError('boom')" if fail else "")
        ),
    ]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path / ("fails.ipynb" if fail else "works.ipynb")
    nbformat.write(nb, path)
    return path


def test_a_failed_run_leaves_the_previous_results_and_its_own_outputs_beside_them(tmp_path):
    out = tmp_path / "out"
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    before = tree_hashes(out / "toy")
    assert set(before) == {"metrics.csv", "toy.ipynb"}
    with pytest.raises(RuntimeError, match="previous results are untouched"):
        run_study(_spec(tmp_path, fail=True), "smoke", {}, str(out))
    assert tree_hashes(out / "toy") == before
    failed = out / "toy.failed"
    assert (failed / "metrics.csv").read_text() == "new" and (failed / "toy.ipynb").is_file()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["toy", "toy.failed"]
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    assert not failed.exists(), "a later success clears the stale failure"


def test_a_full_disk_is_named_with_its_step_and_path_and_blocks_no_later_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    before = tree_hashes(out / "toy")

    def full(staging: Path, folder: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))

    monkeypatch.setattr(runner, "replace_dir", full)
    with pytest.raises(RuntimeError) as caught:
        run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    message = str(caught.value)
    assert "\n" not in message and "failed replacing" in message and os.strerror(errno.ENOSPC) in message
    assert str(out / "toy") in message and "previous results are untouched" in message
    assert tree_hashes(out / "toy") == before and not (out / ".toy.running").exists()
    monkeypatch.undo()
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    assert not (out / "toy.failed").exists()


def test_a_folder_made_read_only_mid_run_reports_the_cause_not_the_failed_move(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    before = tree_hashes(out / "toy")
    real_execute, real_rename = runner.execute, os.rename

    def read_only(*args, **kwargs) -> None:  # the run's folder turns read-only while the notebook writes
        real_execute(*args, **kwargs)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out / ".toy.running" / "metrics.csv"))

    def refuse(src, dst) -> None:
        if str(dst).endswith(".failed"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(src))
        real_rename(src, dst)

    monkeypatch.setattr(runner, "execute", read_only)
    monkeypatch.setattr(runner.os, "rename", refuse)
    with pytest.raises(RuntimeError) as caught:
        run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    message = str(caught.value)
    assert "\n" not in message and "running the notebook" in message and os.strerror(errno.EROFS) in message
    assert "could not be kept" in message and os.strerror(errno.EACCES) in message
    assert not (out / ".toy.running").exists(), "nothing is left in the staging folder"
    assert tree_hashes(out / "toy") == before
    monkeypatch.undo()
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))


def test_a_full_disk_inside_the_notebook_names_the_cell_and_the_path(tmp_path):
    nb = nbformat.read(_notebook(tmp_path, fail=False), as_version=4)
    nb.cells[
        1
    ].source = "import errno, os\nraise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), '/data/x.csv')"
    path = tmp_path / "full.ipynb"
    nbformat.write(nb, path)
    spec = _Spec("toy", "a toy", "none", STUDIES["00_landscape"].params, path=path)
    with pytest.raises(RuntimeError) as caught:
        run_study(spec, "smoke", {}, str(tmp_path / "out"))
    message = str(caught.value)
    assert "\n" not in message and "failed in cell" in message
    assert os.strerror(errno.ENOSPC) in message and "/data/x.csv" in message


@pytest.mark.notebook
def test_study_04_never_reads_what_a_killed_study_03_run_left(smoke_runs, tmp_path):
    committed = tree_hashes(ROOT / "results")
    # study 04 of the smoke runs read the finished study 03 beside it
    assert (
        "Ground truth: read from" in (smoke_runs[1]["04_transference"] / "04_transference.ipynb").read_text()
    )
    out = tmp_path / "runs"
    shutil.copytree(smoke_runs[1]["03_task_grouping"], out / "03_task_grouping")
    good = tree_hashes(out / "03_task_grouping")
    # a run at other parameters, killed once it has written its ground truth
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mtlkit.cli",
            "run",
            "03",
            "--mode",
            "smoke",
            "-p",
            "epochs",
            "4",
            "--out",
            str(out),
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = out / ".03_task_grouping.running"
    deadline = time.time() + 120
    while not (staging / "ground_truth.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert (staging / "ground_truth.csv").exists(), "the killed run had written its ground truth"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tree_hashes(out / "03_task_grouping") == good, "the finished run's folder is untouched"
    # study 04 at the killed run's parameters: the only finished 03 is at other parameters -> recomputed
    run_study(STUDIES["04_transference"], "smoke", {"epochs": "4"}, str(out))
    text = (out / "04_transference" / "04_transference.ipynb").read_text()
    assert "the subset networks were trained here" in text and "epochs=3 (here 4)" in text
    assert tree_hashes(ROOT / "results") == committed, "the committed results are byte-identical"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.notebook
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_stopping_mtlkit_run_leaves_no_kernel_or_worker_running(tmp_path, sig):
    """The signal goes to the process group of `mtlkit run`, as a terminal or a scheduler sends it; the
    kernel runs in a session of its own, and its sweep workers below it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtlkit.cli", "run", "03", "--mode", "smoke", "--out", str(tmp_path)]
        + ["-p", "cache", "false", "-p", "n_jobs", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, tree = time.time() + 120, []
    while time.time() < deadline and proc.poll() is None:
        tree = _descendants(proc.pid)
        if len(tree) >= 4:  # the kernel, its resource trackers and at least one sweep worker
            break
        time.sleep(0.2)
    assert len(tree) >= 4, f"the run started no sweep workers: {tree}"
    time.sleep(1)
    tree = sorted(set(tree + _descendants(proc.pid)))
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    time.sleep(5)
    alive = [p for p in tree if _alive(p)]
    assert alive == [], [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:160] for p in alive]
    assert not (tmp_path / "03_task_grouping").exists(), "an interrupted run publishes nothing"


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    from mtlkit.runner import _exclusive

    out = tmp_path / "out"
    with _exclusive(out / ".toy.lock"):  # as a first `mtlkit run` into out/ holds it
        with pytest.raises(RuntimeError, match="another run is writing"):
            run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    assert not (out / "toy").exists() and not (out / ".toy.running").exists()
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))  # released: the next run goes ahead
    assert (out / "toy" / "metrics.csv").read_text() == "new"


def test_a_symlinked_study_folder_is_refused_before_compute_and_blocks_no_later_run(tmp_path):
    """Once: the run swapped its results in, then ended in "Cannot call rmtree on a symbolic link" and left
    ``.toy.running`` behind, so that every later run failed with "File exists"."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out.mkdir()
    (out / "toy").symlink_to(elsewhere)
    spec = _spec(tmp_path, fail=False)
    with pytest.raises(
        ParameterError, match=r"out/toy is a symbolic link \(to .*elsewhere\).*remove the link"
    ):
        run_study(spec, "smoke", {}, str(out))
    assert (elsewhere / "keep.txt").read_text() == "mine" and (out / "toy").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["toy"], "nothing left beside it: no .toy.running"
    (out / "toy").unlink()
    run_study(spec, "smoke", {}, str(out))  # the link removed: the next run goes ahead
    assert (out / "toy" / "metrics.csv").read_text() == "new"


def test_the_cli_refuses_a_symlinked_study_folder_in_one_line_dry_run_or_not(tmp_path, capsys):
    (tmp_path / "00_landscape").symlink_to(tmp_path)
    for dry in (["--dry-run"], []):
        assert main(["run", "00", "--mode", "smoke", "--out", str(tmp_path), *dry]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "00_landscape is a symbolic link" in err and "Traceback" not in err
    assert not (tmp_path / ".00_landscape.running").exists()


@pytest.mark.parametrize("left", ["a link", "a file", "a folder"])
def test_whatever_a_killed_run_left_in_the_staging_folders_place_is_cleared(tmp_path, left):
    out = tmp_path / "out"
    out.mkdir()
    staging = out / ".toy.running"
    if left == "a link":
        staging.symlink_to(tmp_path / "nowhere")
    elif left == "a file":
        staging.write_text("")
    else:
        (staging / "half").mkdir(parents=True)
    run_study(_spec(tmp_path, fail=False), "smoke", {}, str(out))
    assert (out / "toy" / "metrics.csv").read_text() == "new"
    assert not os.path.lexists(staging), "nothing stays in .toy.running after the run"
