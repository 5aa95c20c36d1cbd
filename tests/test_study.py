"""One validation path: errors name the parameter, its value and what is allowed; the CLI uses it too."""

import ast
import contextlib
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtlkit.cli import main
from mtlkit.params import ParameterError, validate
from mtlkit.session import OUT_ENV, committed_dir, output_dir
from mtlkit.studies import STUDIES, get_study
from mtlkit.studies.task_grouping import TRUTH_PARAMS
from mtlkit.study import start

SPEC = STUDIES["00_landscape"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("given", "fragments"),
    [
        ({"epochs": -1}, ["'epochs'", "-1", "[1, 10000]"]),
        ({"epochs": "abc"}, ["'epochs'", "'abc'", "integer"]),
        ({"epochs": 2.5}, ["'epochs'", "2.5", "integer"]),
        ({"lr": True}, ["'lr'", "True", "number"]),
        ({"tasks": ["left", "colour"]}, ["'tasks'", "colour", "sum_parity"]),
        ({"tasks": "left,left"}, ["'tasks'", "repeats"]),
        ({"weightings": ["magic"]}, ["'weightings'", "magic", "pcgrad"]),
        ({"mode": "fast"}, ["'mode'", "fast", "smoke"]),
        ({"colour": 1}, ["'colour'", "known parameters"]),
        ({"cache": "maybe"}, ["'cache'", "maybe", "True or False"]),
    ],
)
def test_bad_parameters_are_named_with_what_is_allowed(given, fragments):
    with pytest.raises(ParameterError) as e:
        validate(SPEC, {"mode": "smoke", **given})
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


def test_modes_resolve_sizes_and_env_override(monkeypatch):
    monkeypatch.delenv("MTLKIT_MODE", raising=False)
    assert validate(SPEC, {})["mode"] == "default"
    assert validate(SPEC, {"mode": "smoke"})["epochs"] == 2
    monkeypatch.setenv("MTLKIT_MODE", "smoke")
    assert validate(SPEC, {})["mode"] == "smoke"
    assert validate(SPEC, {"mode": "full"})["mode"] == "full"
    r = validate(SPEC, {"epochs": "7", "tasks": "left, right", "cache": "false"})
    assert r["epochs"] == 7 and r["tasks"] == ["left", "right"] and r["cache"] is False


def test_start_seeds_and_makes_the_output_folder(tmp_path):
    import torch

    s = start("00", mode="smoke", seed=4, seeds=3, out=str(tmp_path / "o"))
    a = torch.rand(3)
    start("00", mode="smoke", seed=4, seeds=3, out=str(tmp_path / "o"))
    assert torch.equal(a, torch.rand(3))
    assert s.seeds == [4, 5, 6] and (tmp_path / "o").is_dir() and s.device.type in ("cpu", "cuda")


def test_only_mtlkit_run_writes_the_committed_results(monkeypatch, tmp_path):
    assert committed_dir("00_landscape", "default").parts[-2:] == ("results", "00_landscape")
    assert committed_dir("00_landscape", "smoke").parts[-3:] == ("results", "smoke", "00_landscape")
    monkeypatch.delenv(OUT_ENV, raising=False)
    assert output_dir("00_landscape", "default").parts[-4:] == ("results", "lab", "default", "00_landscape")
    monkeypatch.setenv(OUT_ENV, str(tmp_path / "set-by-mtlkit-run"))
    assert output_dir("00_landscape", "default") == tmp_path / "set-by-mtlkit-run"
    assert output_dir("00_landscape", "default", str(tmp_path / "x")) == tmp_path / "x"


def test_unknown_study_and_prefix_lookup():
    assert get_study("0").name == "00_landscape" and get_study("00").name == "00_landscape"
    with pytest.raises(ParameterError, match="known studies"):
        get_study("99")


def _parameters_cell(spec):
    nb = json.loads(spec.notebook.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{spec.name}: exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(cells[0]["source"]))
    return {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}


@pytest.mark.parametrize("name", list(STUDIES))
def test_notebook_parameters_cell_matches_the_schema(name):
    spec = STUDIES[name]
    values = _parameters_cell(spec)
    assert set(values) == {p.name for p in spec.params}, "parameters cell and schema declare different names"
    for p in spec.params:
        if values[p.name] is not None:
            assert values[p.name] == p.default, (
                f"{p.name}: notebook says {values[p.name]!r}, schema {p.default!r}"
            )
        else:
            assert p.by_mode or p.nullable or p.follows or p.kind == "list", (
                f"{p.name} is None in the notebook but has no mode value or parameter to follow"
            )


def _cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "mtlkit.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_cli_fails_fast_on_a_bad_parameter(tmp_path):
    t0 = time.time()
    r = _cli("run", "00", "--mode", "smoke", "-p", "epochs", "-1", "--out", str(tmp_path))
    assert r.returncode == 2
    assert "'epochs'" in r.stderr and "[1, 10000]" in r.stderr
    assert time.time() - t0 < 30
    assert not any(tmp_path.iterdir()), "nothing is written for a bad parameter"
    r = _cli("run", "00", "--mode", "smoke", "-p", "tasks", "left,colour")
    assert r.returncode == 2 and "colour" in r.stderr and "sum_parity" in r.stderr


def test_cli_list_shows_what_was_asked_for_with_the_shared_parameters_once():
    r = _cli("list")
    assert r.returncode == 0
    assert all(name in r.stdout for name in STUDIES) and "pcgrad" not in r.stdout
    assert r.stdout.count("\n  seed ") == 1 and "[0, 2147483647]" in r.stdout and "e+09" not in r.stdout
    r = _cli("list", "00")
    assert r.returncode == 0
    for s in ("00_landscape", "epochs", "smoke=2", "allowed:", "pcgrad"):
        assert s in r.stdout
    assert "03_task_grouping" not in r.stdout and "\n  seed " not in r.stdout
    r = _cli("list", "all")
    assert r.stdout.count("\n  seed ") == 1 and all(f"\n{name}: " in r.stdout for name in STUDIES)
    r = _cli("list", "99")
    assert r.returncode == 2 and "known studies" in r.stderr


def test_cross_parameter_checks_and_number_lists():
    towers, tradeoff = STUDIES["02_small_towers"], STUDIES["01_tradeoff"]
    assert validate(towers, {"mode": "smoke", "correlations": "0, 0.25"})["correlations"] == [0.0, 0.25]
    with pytest.raises(ParameterError, match="'correlations'.*each in \\[-1, 1\\]"):
        validate(towers, {"mode": "smoke", "correlations": [0.5, 2.0]})
    with pytest.raises(ParameterError, match="'digit_tasks'.*exactly two"):
        validate(towers, {"mode": "smoke", "digit_tasks": "left"})
    with pytest.raises(ParameterError, match="horizon_min < horizon_max"):
        validate(tradeoff, {"mode": "smoke", "horizon_min": 500.0})
    with pytest.raises(ParameterError, match="'depth' = 1 is out of range"):
        validate(tradeoff, {"mode": "smoke", "depth": 1})


def test_transference_study_shares_the_ground_truth_parameters():
    s03, s04 = STUDIES["03_task_grouping"], STUDIES["04_transference"]
    for name in (*TRUTH_PARAMS, "esa_fraction"):
        assert s04.param(name) == s03.param(name), name


def test_start_refuses_a_name_the_parameters_cells_set_but_the_study_does_not_declare(tmp_path):
    namespace = {"In": ["# Parameters\nepoch = 3\n"], "epoch": 3, "mode": "smoke", "out": str(tmp_path)}
    with pytest.raises(ParameterError, match=r"no parameter 'epoch' \(did you mean 'epochs'\?\)"):
        start("00", namespace)
    assert not any(tmp_path.iterdir()), "refused before anything is written"
    # a variable left over from earlier cells (not set by a parameters cell) is not a parameter
    leftover = {"In": ["# Parameters (papermill injects overrides after this cell)\nseed = 0\n"], "n": 5}
    assert start("00", {**leftover, "mode": "smoke", "seed": 2, "out": str(tmp_path)}).p.seed == 2


def test_a_derived_default_follows_its_parameter():
    from mtlkit.session import Params
    from mtlkit.studies import transference as study04

    spec = STUDIES["04_transference"]
    p = Params(validate(spec, {"mode": "smoke", "lr": 0.01}))
    assert p.lookahead_lr == 0.01
    assert study04.run_config(p, "equal", 0).track.lr == 0.01, (
        "the tracked run's lookahead step moves with lr"
    )
    assert study04.run_config(p, "itmtl", 0).fit.weighting["lr"] == 0.01, "so does IT-MTL's"
    assert {eta for eta, _ in study04.step_size_configs(p, [0], (10, 100))} == {0.1, 1.0}
    explicit = Params(validate(spec, {"mode": "smoke", "lr": 0.01, "lookahead_lr": 0.1}))
    assert study04.run_config(explicit, "equal", 0).track.lr == 0.1


@pytest.mark.parametrize("value", ["nan", float("nan"), "inf"])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ParameterError, match="'criterion'"):
        validate(STUDIES["01_tradeoff"], {"mode": "smoke", "criterion": value})


def test_report_prints_every_claim_in_full():
    r = _cli("report")
    assert r.returncode == 0
    for f in sorted((ROOT / "results").glob("*/claims.json")):
        for c in json.loads(f.read_text())["claims"]:
            assert c["statement"] in r.stdout and c["paper"] in r.stdout, c["id"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-p", "lr", "-inf"], "'lr' = '-inf'"),  # a negative value is read as a value, then refused
        (["-p", "lr=-1"], "'lr' = -1.0 is out of range"),
        (["-p", "seeds", "2", "-p", "seeds", "3"], "'seeds' is given twice"),
        (["-p", "out", "somewhere"], "--out DIR"),
        (["--mode", "smoke", "-p", "mode", "bogus"], "contradicts --mode smoke"),
        (["-p", "mode", ""], "'mode' = ''"),
        (["-p", "tasks", "left"], "at least 2 tasks"),
        (["-p", "scheduler", "localhost"], "'scheduler' = 'localhost'"),
        (["-p", "seeds"], "has no value"),
    ],
)
def test_cli_refuses_in_one_line_before_any_compute(argv, fragment):
    code, err = _main(["run", "00", *argv])
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_cli_reads_negative_numbers_and_honours_a_lone_mode(tmp_path):
    code, _ = _main(["run", "02", "-p", "correlations", "-0.5,0.5", "--dry-run"])
    assert code == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "00", "-p", "mode", "smoke", "--dry-run"]) == 0
    assert '"mode": "smoke"' in out.getvalue() and '"epochs": 2' in out.getvalue()


def test_cli_refuses_an_out_that_is_a_file_or_not_writable(tmp_path):
    (tmp_path / "a-file").write_text("")
    for below in ("", "below-a-file"):  # below a file: the file is named
        code, err = _main(["run", "00", "--mode", "smoke", "--out", str(tmp_path / "a-file" / below)])
        assert code == 2 and "is a file, not a folder" in err and ("a-file is one" in err) == bool(below)
    for unwritable in (Path("/proc/mtlkit-cannot-write-here"),):
        code, err = _main(["run", "00", "--mode", "smoke", "--out", str(unwritable)])
        assert code == 2 and "is not a writable folder" in err and "Traceback" not in err, err


def test_cli_output_cut_short_by_a_pipe_ends_quietly():
    r = subprocess.run(
        f"{sys.executable} -m mtlkit.cli list all | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.count("\n") == 1 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def _main(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("study", "given", "fragment"),
    [
        ("03_task_grouping", {"width": 18655}, "189.0 GiB"),  # once: an allocation error after 11 s
        ("04_transference", {"width": 4096}, "GiB for weights and optimizer state"),
        ("01_tradeoff", {"n_dims": 8, "n_features": 10}, "130,844.1 GiB"),  # once: MemoryError after 19 s
        ("01_tradeoff", {"n_dims": 8}, "4.3 GiB for the multitasking trials"),  # once: workers OOM-killed
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_before_compute(study, given, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        validate(STUDIES[study], {"mode": "default", **given})
    assert validate(STUDIES[study], {"mode": "default"})  # the defaults fit
