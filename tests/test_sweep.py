"""The sweep: cache reuse, corrupt entries recomputed, same numbers in-process and in workers."""

import json

import pandas as pd

from mtlkit.runs import RunConfig, train_and_evaluate
from mtlkit.sweep import load_cached, run_key, run_sweep


def counted(config: dict) -> pd.DataFrame:
    """A run that records each call in a file (so the test sees calls made in worker processes too)."""
    with open(config["log"], "a") as f:
        f.write(f"{config['x']}\n")
    return pd.DataFrame({"x": [config["x"]], "square": [config["x"] ** 2 + 0.1]})


def _damage(path, how: str) -> None:
    """One kind of damage to a cache entry."""
    text = path.read_text()
    data = json.loads(text)
    if how == "truncated":
        path.write_text(text[:-20])
    elif how == "record":
        data["records"][0]["square"] = 99.0
    elif how == "columns byte":  # one byte of the schema: "square" -> "squarf"
        data["columns"] = [c.replace("square", "squarf") for c in data["columns"]]
    elif how == "columns dropped":
        data["columns"] = data["columns"][:1]
    elif how == "config":
        data["config"]["x"] = -1
    elif how == "key":
        data["key"] = "0" * 24
    elif how == "checksum":
        data["sha256"] = "0" * 64
    elif how == "not json":
        path.write_bytes(b"\x00\xff" * 10)
    elif how == "not a dict":
        path.write_text("[1, 2, 3]")
    elif how == "empty":
        path.write_text("")
    elif how == "nested too deep":  # json.loads raises RecursionError
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif how == "a folder":  # reading raises IsADirectoryError; the recomputed entry must replace it
        path.unlink()
        (path / "inside").mkdir(parents=True)
    if how in ("record", "columns byte", "columns dropped", "config", "key", "checksum"):
        path.write_text(json.dumps(data))


DAMAGE = [
    "truncated",
    "record",
    "columns byte",
    "columns dropped",
    "config",
    "key",
    "checksum",
    "not json",
    "not a dict",
    "empty",
    "nested too deep",
    "a folder",
]


def test_cache_skips_finished_runs_and_recomputes_every_damaged_entry(tmp_path, capsys):
    log = tmp_path / "calls.txt"
    configs = [{"x": i, "log": str(log)} for i in range(len(DAMAGE) + 2)]
    first = run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert [float(f.square.iloc[0]) for f in first] == [i**2 + 0.1 for i in range(len(configs))]
    assert sorted(map(int, log.read_text().split())) == list(range(len(configs)))
    capsys.readouterr()

    keys = [run_key(counted, c) for c in configs]
    for k, how in zip(keys, DAMAGE):
        _damage(tmp_path / "cache" / f"{k}.json", how)
    log.write_text("")
    again = run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert sorted(map(int, log.read_text().split())) == list(range(len(DAMAGE))), "only damaged entries rerun"
    assert f"{len(DAMAGE)} damaged cache entries recomputed" in capsys.readouterr().err
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    assert all(p.is_file() for p in (tmp_path / "cache").iterdir()), "each damaged entry rewritten as a file"
    log.write_text("")
    run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert log.read_text() == "" and "damaged" not in capsys.readouterr().err


def test_run_key_depends_on_config_and_source():
    a = run_key(counted, {"x": 1}, source="s1")
    assert a == run_key(counted, {"x": 1}, source="s1")
    assert a != run_key(counted, {"x": 2}, source="s1")
    assert a != run_key(counted, {"x": 1}, source="s2")


def test_workers_give_the_same_numbers_as_in_process(tmp_path):
    cfgs = [
        RunConfig.from_dict(
            {
                "seed": s,
                "data": {"name": "multidigits", "tasks": ["left", "sum_parity"], "n_train": 100},
                "model": {"architecture": "hard", "width": 16, "depth": 1},
                "fit": {"epochs": 2},
            }
        )
        for s in (0, 1)
    ]
    local = run_sweep(train_and_evaluate, cfgs, n_jobs=1, progress=False)
    workers = run_sweep(train_and_evaluate, cfgs, n_jobs=2, progress=False)
    cached = run_sweep(train_and_evaluate, cfgs, cache_dir=tmp_path, n_jobs=2, progress=False)
    cached_again = run_sweep(train_and_evaluate, cfgs, cache_dir=tmp_path, n_jobs=2, progress=False)
    for a, b, c, d in zip(local, workers, cached, cached_again):
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(a, c)
        pd.testing.assert_frame_equal(a, d)


def test_unknown_or_missing_backend_is_refused_before_any_run(tmp_path):
    import importlib.util

    import pytest

    log = tmp_path / "calls.txt"
    with pytest.raises(ValueError, match="known"):
        run_sweep(counted, [{"x": 1, "log": str(log)}], backend="spark", progress=False)
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(ValueError, match="pip install"):
            run_sweep(counted, [{"x": 1, "log": str(log)}], backend="ray", progress=False)
    assert not log.exists()


TINY = [
    RunConfig.from_dict(
        {
            "seed": s,
            "data": {"name": "multidigits", "tasks": ["left", "sum_parity"], "n_train": 60},
            "model": {"architecture": "hard", "width": 8, "depth": 1},
            "fit": {"epochs": 1},
        }
    )
    for s in (0, 1, 2)
]


def test_dask_local_cluster_gives_the_same_numbers(tmp_path):
    import pytest

    pytest.importorskip("distributed")
    local = run_sweep(train_and_evaluate, TINY, n_jobs=1, progress=False)
    dask = run_sweep(train_and_evaluate, TINY, n_jobs=2, backend="dask", cache_dir=tmp_path, progress=False)
    for a, b in zip(local, dask):
        pd.testing.assert_frame_equal(a, b)
    assert len(list(tmp_path.glob("*.json"))) == len(TINY)


SLOW_SWEEP = """
import sys, time
import pandas as pd
from mtlkit.sweep import run_sweep

def slow(config):
    with open(config["log"], "a") as f:
        f.write(f"{config['x']}\\n")
    time.sleep(0.4)
    return pd.DataFrame({"x": [config["x"]], "value": [config["x"] * 1.5]})

if __name__ == "__main__":
    configs = [{"x": i, "log": sys.argv[2]} for i in range(8)]
    frames = run_sweep(slow, configs, cache_dir=sys.argv[1], n_jobs=int(sys.argv[3]), progress=False)
    pd.concat(frames).to_csv(sys.argv[4], index=False)
"""


def test_a_killed_sweep_resumes_and_computes_each_finished_run_once(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "sweep_script.py"
    script.write_text(SLOW_SWEEP)
    cache, log = tmp_path / "cache", tmp_path / "calls.txt"
    args = [sys.executable, str(script), str(cache), str(log), "2", str(tmp_path / "out.csv")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, start_new_session=True)
    deadline = time.time() + 60
    while len(list(cache.glob("*.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-way
    proc.wait()
    done_at_kill = {json.loads(p.read_text())["config"]["x"] for p in cache.glob("*.json")}
    assert 3 <= len(done_at_kill) < 8, "kill the sweep mid-way"
    for p in cache.glob("*.json"):  # whatever the kill interrupted, no visible entry is half-written
        assert load_cached(p, json.loads(p.read_text())["key"]) is not None
    started_before = log.read_text().split()

    subprocess.run(args, env=env, cwd=tmp_path, check=True, timeout=120)
    calls = log.read_text().split()[len(started_before) :]
    assert not {int(x) for x in calls} & done_at_kill, "a finished run was computed again"
    assert sorted(int(x) for x in calls) == sorted(set(range(8)) - done_at_kill)
    out = pd.read_csv(tmp_path / "out.csv")
    assert out.x.tolist() == list(range(8)) and out.value.tolist() == [x * 1.5 for x in range(8)]


def test_the_damaged_count_reaches_the_progress_mtlkit_run_shows(tmp_path, monkeypatch, capsys):
    """Under ``mtlkit run`` the kernel's stderr goes into the notebook: the count goes to the terminal's
    progress line too."""
    log, progress = tmp_path / "calls.txt", tmp_path / "progress.json"
    configs = [{"x": i, "log": str(log)} for i in range(3)]
    run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    _damage(tmp_path / "cache" / f"{run_key(counted, configs[0])}.json", "nested too deep")
    monkeypatch.setenv("MTLKIT_PROGRESS", str(progress))
    run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert json.loads(progress.read_text())["damaged"] == 1
    assert "1 damaged cache entry recomputed" in capsys.readouterr().err
