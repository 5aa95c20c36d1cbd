"""Hostile parameters, generated (Hypothesis) over every study's declared parameters: each value is either
accepted or refused before any compute with one line naming the parameter - never a traceback - and a
sample of accepted values that once crashed runs in smoke mode."""

from __future__ import annotations

import contextlib
import io
import math
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlkit.cli import main, run_study
from mtlkit.params import Param, ParameterError, validate
from mtlkit.studies import STUDIES

PARAMS = [(spec.name, p) for spec in STUDIES.values() for p in spec.params]

HOSTILE_TEXT = st.sampled_from(
    ["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1", "0", "-0.5,0.5", "1,,2", ",", "None", "True",
     "../../etc", "/dev/null", "x" * 300, "0x10", "1_000", "１", "∞", "a,a", "left,left", "🙂", "$(rm -rf)",
     "tcp://", "tcp://h:99999999", "-p", "--out", "2147483648", "99999999999999999999"]
)  # fmt: skip


def values_for(p: Param) -> st.SearchStrategy:
    """Values of every kind for ``p``: in range, at and past its bounds, of the wrong type, and hostile text."""
    picks = [HOSTILE_TEXT, st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3)]
    picks.append(st.floats(allow_nan=True, allow_infinity=True))
    picks.append(st.integers(min_value=-(2**70), max_value=2**70))
    if p.low is not None or p.high is not None:
        lo = -1e9 if p.low is None else p.low
        hi = 1e9 if p.high is None else p.high
        picks.append(
            st.integers(int(math.floor(lo)) - 2, int(math.ceil(hi)) + 2)
            if p.kind == "int"
            else st.floats(lo - 1, hi + 1)
        )
    if p.choices:
        choice = st.sampled_from(list(p.choices))
        picks.append(choice)
        picks.append(st.lists(choice, min_size=0, max_size=len(p.choices) + 1))
        picks.append(st.lists(choice, min_size=1, max_size=4).map(",".join))
    return st.one_of(picks)


@st.composite
def hostile_sets(draw) -> tuple[str, dict]:
    """A study and one to three of its parameters set to generated values (an unknown name now and then)."""
    name = draw(st.sampled_from(list(STUDIES)))
    spec = STUDIES[name]
    chosen = draw(st.lists(st.sampled_from(spec.params), min_size=1, max_size=3, unique_by=lambda p: p.name))
    given = {p.name: draw(values_for(p)) for p in chosen}
    if draw(st.integers(0, 9)) == 0:
        given[draw(st.sampled_from(["epoch", "colour", "lrr", "Tasks"]))] = 1
    return name, given


@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(hostile_sets())
def test_validation_accepts_a_value_or_names_the_parameter_it_refuses(case):
    name, given = case
    try:
        validate(STUDIES[name], {"mode": "smoke", **given})
    except ParameterError as e:
        assert any(f"'{k}'" in str(e) or k in str(e) for k in given), (given, str(e))


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's own usage errors
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # what would reach the user as a traceback
            return -1, traceback.format_exc()
    return code, err.getvalue()


def _as_text(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


CALLS: list[tuple[list[str], int, str]] = []


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(hostile_sets(), st.sampled_from([["--mode", "smoke"], ["--mode", "full"], []]))
def test_500_hostile_cli_calls_give_no_traceback(case, mode):
    """Through ``mtlkit run ... --dry-run`` (it stops where a real run would start the kernel)."""
    name, given = case
    argv = ["run", name[:2], *mode, "--dry-run"]
    for k, v in given.items():
        argv += ["-p", k, _as_text(v)]
    code, err = _cli(argv)
    CALLS.append((argv, code, err))
    assert code in (0, 2) and "Traceback" not in err, (argv, err)
    if code == 2:
        assert err.startswith("mtlkit: error: ") and err.count("\n") == 1, err


def test_the_hostile_calls_were_made_and_most_were_refused():
    """The property above ran its 500 calls: a log a reader can grep (none has a traceback)."""
    if len(CALLS) < 500:
        pytest.skip("run with the property test above")
    assert sum("Traceback" in err for _, _, err in CALLS) == 0
    assert 0 < sum(code == 2 for _, code, _ in CALLS) < len(CALLS)


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("study", "params"),
    [
        ("00_landscape", {"weightings": "equal", "tasks": "left,right"}),  # once: KeyError 'method'
        ("00_landscape", {"weightings": "pcgrad,equal", "tasks": "sum,left_gt_right"}),
    ],
)
def test_valid_values_that_once_crashed_now_run(tmp_path, study, params):
    folder = run_study(STUDIES[study], "smoke", params, str(tmp_path)).parent
    assert (folder / "claims.json").is_file()


def _refused(argv: list[str], *named: str) -> str:
    """``mtlkit argv`` refused in one line on stderr naming each of ``named``, no traceback, no usage."""
    code, err = _cli(argv)
    assert code == 2 and "Traceback" not in err and "usage:" not in err, (argv, err)
    assert err.startswith("mtlkit: error: ") and err.count("\n") == 1, err
    assert all(n in err for n in named), (named, err)
    return err


def test_one_reference_task_is_refused_before_compute():
    """Once: `-p reference_tasks left` ran until the notebook's pairwise gains (AttributeError: 'gain')."""
    _refused(
        ["run", "03", "--mode", "smoke", "-p", "reference_tasks", "left"], "'reference_tasks'", "at least 2"
    )
    assert validate(STUDIES["03_task_grouping"], {"mode": "smoke", "reference_tasks": "left,right"})


def test_an_mnist_folder_without_its_idx_files_is_refused_before_compute(tmp_path):
    argv = ["run", "03", "--mode", "smoke", "-p", "dataset", "mnist", "--dry-run", "-p", "mnist_source"]
    _refused([*argv, str(tmp_path)], "'mnist_source'", str(tmp_path), "train-images-idx3-ubyte[.gz]")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    err = _refused([*argv, str(tmp_path)], "lacks train-labels-idx1-ubyte[.gz]")
    assert "lacks train-images" not in err
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    assert _cli([*argv, str(tmp_path)])[0] == 0  # their contents are checked on reading
    err = _refused([*argv, "x" * 5000], "'mnist_source'", "File name too long", "(5,000 characters)")
    assert len(err) < 400, "the value is shortened"
    _refused([*argv, "~nosuchuser/mnist"], "'mnist_source'", "'~nosuchuser' is no user's home folder")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--mode", "smoke", "--mode", "full"], ["--mode", "given twice", "'smoke'", "'full'"]),
        (["--out", "A", "--out", "B"], ["--out", "given twice", "'A'", "'B'"]),
        (["--out", ""], ["--out", "empty path"]),
        (["--mode", "Smoke"], ["--mode", "'Smoke'", "'smoke'"]),
        (["-p"], ["-p is the last word", "-p NAME VALUE"]),
        (["-p", "seeds", "None"], ["'seeds'", "'None'"]),
        (["-p", "tasks", "left,left,right"], ["'tasks'", "repeats 'left'"]),
    ],
)
def test_command_line_mistakes_are_one_line_naming_the_option(tmp_path, argv, named):
    err = _refused(["run", "03", "--dry-run", *argv], *named)
    if "'seeds'" in named:
        assert "or None" not in err, "a command line cannot give None: it is not offered"
    assert not (tmp_path / "A").exists() and not (tmp_path / "B").exists()


def test_repeated_items_of_a_list_of_numbers_are_refused_not_merged():
    _refused(["run", "02", "--dry-run", "-p", "gammas", "1,1"], "'gammas'", "repeats 1.0")
    with pytest.raises(ParameterError, match="'gammas' = .* repeats 0.5"):
        validate(STUDIES["02_small_towers"], {"mode": "smoke", "gammas": [0.5, 1, 0.5]})


def test_a_bad_mode_from_the_environment_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("MTLKIT_MODE", "bogus")
    _refused(["run", "03", "--dry-run"], "'bogus'", "environment variable MTLKIT_MODE", "'smoke'")


@pytest.mark.parametrize("out", ["/etc/passwd", "/etc/passwd/x", "/proc/1/x", "~nosuchuser/x", "x" * 5000])
def test_dry_run_refuses_every_out_a_real_run_refuses(out, monkeypatch):
    """``--dry-run`` applies the real run's checks of ``--out`` (making nothing); the real run stops there,
    before any kernel starts."""
    monkeypatch.setattr("mtlkit.cli.run_study", lambda *a: pytest.fail("a refused run must not start"))
    dry = _refused(["run", "00", "--mode", "smoke", "--out", out, "--dry-run"], "--out")
    assert _refused(["run", "00", "--mode", "smoke", "--out", out]) == dry


def test_dry_run_makes_no_folder(tmp_path):
    assert _cli(["run", "00", "--mode", "smoke", "--out", str(tmp_path / "a" / "b"), "--dry-run"])[0] == 0
    assert not (tmp_path / "a").exists()
