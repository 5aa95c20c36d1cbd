"""The sweep: cache reuse, corrupt entries recomputed, same numbers in-process and in workers."""

import json

import pandas as pd

from mtlkit.sweep import run_key, run_sweep
from mtlkit.train import train_and_evaluate


def counted(config: dict) -> pd.DataFrame:
    """A run that records each call in a file (so the test sees calls made in worker processes too)."""
    with open(config["log"], "a") as f:
        f.write(f"{config['x']}\n")
    return pd.DataFrame({"x": [config["x"]], "square": [config["x"] ** 2 + 0.1]})


def test_cache_skips_finished_runs_and_recomputes_corrupt_ones(tmp_path):
    log = tmp_path / "calls.txt"
    configs = [{"x": i, "log": str(log)} for i in range(4)]
    first = run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert [float(f.square.iloc[0]) for f in first] == [0.1, 1.1, 4.1, 9.1]
    assert sorted(log.read_text().split()) == ["0", "1", "2", "3"]

    entries = sorted((tmp_path / "cache").glob("*.json"))
    assert len(entries) == 4
    entries[0].write_text(entries[0].read_text()[:-20])  # truncated
    data = json.loads(entries[1].read_text())
    data["records"][0]["square"] = 99.0  # tampered: checksum no longer matches
    entries[1].write_text(json.dumps(data))
    log.write_text("")
    again = run_sweep(counted, configs, cache_dir=tmp_path / "cache", progress=False)
    assert len(log.read_text().split()) == 2, "only the two damaged entries are recomputed"
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)


def test_run_key_depends_on_config_and_source():
    a = run_key(counted, {"x": 1}, source="s1")
    assert a == run_key(counted, {"x": 1}, source="s1")
    assert a != run_key(counted, {"x": 2}, source="s1")
    assert a != run_key(counted, {"x": 1}, source="s2")


def test_workers_give_the_same_numbers_as_in_process(tmp_path):
    cfgs = [
        {
            "seed": s,
            "data": {"name": "multidigits", "tasks": ["left", "sum_parity"], "n_train": 100},
            "model": {"architecture": "hard", "width": 16, "depth": 1},
            "fit": {"epochs": 2},
        }
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
