"""``mtlkit select`` on a user's loss table (docs/select.md): the same selections as study 03 makes on
Standley et al.'s released tables, a hand-made table whose optimum is worked out below, and every bad
input refused in one line before anything is selected."""

import re
from pathlib import Path

import numpy as np
import pytest

import mtlkit.user_tables as user_tables
from mtlkit.cli import main
from mtlkit.data.standley import SETTINGS, TASK_NAMES, TableError, standley_scores
from mtlkit.selection import METHODS, check_budget, compare_on_table, select

BUDGETS = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]


def run(capsys, *argv):
    """``mtlkit select`` through ``main``: (exit code, stdout, stderr)."""
    code = main(["select", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def parse(out):
    """The printed table as {network: cells}, ``total`` included."""
    lines = [line.strip("|").split("|") for line in out.strip().splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in lines}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_each_standley_setting_selects_as_study_03_does(tmp_path, capsys, setting):
    """The packaged setting written in the documented format, selected on at every budget of study 03 by
    every method: the same networks and test totals as :func:`mtlkit.selection.compare_on_table`
    (setting 4's early table lacks a network, so ESA there chooses from one fewer)."""
    scores = standley_scores(setting)
    path = tmp_path / "losses.csv"
    scores[["network", "task", "val", "test", "cost", "early"]].to_csv(path, index=False)
    reference = compare_on_table(scores, TASK_NAMES, BUDGETS)
    for budget in BUDGETS:
        for method, name in METHODS.items():
            code, out, err = run(capsys, path, "--budget", budget, "--method", method)
            assert code == 0 and not err, err
            expected = reference[(reference.method == name) & (reference.budget == budget)].iloc[0]
            rows = parse(out)
            total = rows.pop("total")
            assert " | ".join(sorted(rows)) == expected.networks, (setting, budget, method)
            assert float(total[0]) == pytest.approx(expected.cost)
            assert float(total[3]) == pytest.approx(expected.test_total, abs=5e-5)
            assert sum(float(r[0]) for r in rows.values()) == pytest.approx(expected.cost)


HAND = """network,task,val,test,cost,early
a,a,0.50,0.52,1,0.60
b,b,0.40,0.41,1,0.50
c,c,0.30,0.33,1,0.40
ab,a,0.42,0.44,1,0.55
ab,b,0.45,0.46,1,0.58
ac,a,0.48,0.47,1,0.52
ac,c,0.28,0.30,1,0.35
bc,b,0.35,0.36,1,0.45
bc,c,0.33,0.32,1,0.42
abc,a,0.46,0.45,1,0.56
abc,b,0.38,0.40,1,0.49
abc,c,0.31,0.34,1,0.41
c-half,c,0.36,0.37,0.5,0.45
"""


@pytest.mark.parametrize(
    "budget, method, networks, val, test",
    [
        # budget 1: only abc serves all three tasks; HOA predicts it from the pairs:
        # a (0.42 + 0.48) / 2, b (0.45 + 0.35) / 2, c (0.28 + 0.33) / 2 = 1.155
        (1, "optimal", ["abc"], 1.15, 1.19),
        (1, "hoa", ["abc"], 1.155, 1.19),
        (1, "esa", ["abc"], 1.46, 1.19),
        (1.5, "optimal", ["abc"], 1.15, 1.19),  # c-half improves no task of abc; ab + c-half is 1.23
        # budget 2: ab + bc (0.42 + 0.35 + 0.33 = 1.10) beats abc + ab and ac + bc (1.11); on test each
        # task takes its best chosen network: a 0.44, b 0.36, c 0.32
        (2, "optimal", ["ab", "bc"], 1.10, 1.12),
        (2, "hoa", ["ab", "bc"], 1.10, 1.12),  # with abc predicted, abc + bc is 1.105: still above
        (2, "esa", ["ac", "bc"], 1.32, 1.13),  # early: a 0.52, b 0.45, c 0.35; test: 0.47 + 0.36 + 0.30
    ],
)
def test_a_hand_made_table_gives_the_optimum_worked_out_by_hand(
    tmp_path, capsys, budget, method, networks, val, test
):
    path = tmp_path / "mine.csv"
    path.write_text(HAND)
    code, out, err = run(capsys, path, "--budget", budget, "--method", method)
    assert code == 0 and not err, err
    rows = parse(out)
    total = rows.pop("total")
    assert sorted(rows) == networks
    assert (float(total[2]), float(total[3])) == (pytest.approx(val), pytest.approx(test))
    assert float(total[0]) == len(networks)


@pytest.fixture
def refused(tmp_path, capsys, monkeypatch):
    """Run ``mtlkit select`` on a table and expect a one-line refusal before any selection is made."""

    def never(*args, **kwargs):
        raise AssertionError("a selection was computed before the input was refused")

    monkeypatch.setattr(user_tables, "select", never)

    def check(text, *args, method="optimal", budget="2"):
        path = tmp_path / "losses.csv"
        if text is not None:
            path.write_text(text)
        code, out, err = run(capsys, path, "--budget", budget, "--method", method, *args)
        assert code == 2 and not out, out
        assert err.startswith("mtlkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        return err

    return check


def test_refuses_a_network_task_row_given_twice(refused):
    err = refused(HAND + "ab,a,0.41,0.44,1,0.55\n")
    assert "network 'ab' has task 'a' on lines [5, 15]" in err


def test_refuses_a_network_with_two_costs(refused):
    err = refused(HAND.replace("ab,b,0.45,0.46,1,", "ab,b,0.45,0.46,0.5,"))
    assert "network 'ab' has costs [0.5, 1.0]" in err


def test_refuses_a_task_no_network_serves(refused):
    """ESA chooses among the networks with early losses: with none for any network serving ``c``, no
    selection serves ``c``."""
    rows = [",".join(r.split(",")[:5]) + "," if "c" in r.split(",")[0] else r for r in HAND.splitlines()]
    err = refused("\n".join(rows) + "\n", method="esa")
    assert "no network has an early loss for task(s) ['c']" in err


@pytest.mark.parametrize("cost", ["0", "-1", "inf", "nan"])
def test_refuses_a_cost_that_is_not_positive_and_finite(refused, cost):
    err = refused(HAND.replace("c-half,c,0.36,0.37,0.5,", f"c-half,c,0.36,0.37,{cost},"))
    assert "cost" in err and ("line 14" in err or "network 'c-half'" in err) and cost in err


def test_refuses_a_budget_below_the_cheapest_cover_and_names_it(tmp_path, capsys):
    path = tmp_path / "losses.csv"
    path.write_text(HAND)
    code, out, err = run(capsys, path, "--budget", "0.9")
    assert code == 2 and not out
    assert err == (
        "mtlkit: error: budget = 0.9 is below the cheapest selection that serves every task: 1 (abc)\n"
    )


def test_refuses_a_networks_early_losses_given_for_only_some_tasks(refused):
    err = refused(HAND.replace("ab,b,0.45,0.46,1,0.58", "ab,b,0.45,0.46,1,"), method="esa")
    assert "network 'ab' has early losses for some tasks but not for ['b'] (lines [6])" in err


def test_refuses_esa_without_an_early_column(refused):
    text = "\n".join(",".join(line.split(",")[:5]) for line in HAND.splitlines()) + "\n"
    assert "needs an 'early' column" in refused(text, method="esa")


@pytest.mark.parametrize("value", ["abc", "nan", "", "-inf"])
def test_refuses_a_loss_that_is_not_a_finite_number(refused, value):
    err = refused(HAND.replace("bc,c,0.33,0.32,", f"bc,c,{value},0.32,"))
    assert f"line 10: val = {value!r} is not a finite number" in err


def test_refuses_missing_and_unknown_columns(refused):
    err = refused(HAND.replace("network,task,val,test,cost,early", "network,task,val,tset,cost,early"))
    assert "missing ['test']" in err and "unknown ['tset']" in err


def test_refuses_hoa_without_the_pairs_it_predicts_from(refused):
    text = "\n".join(line for line in HAND.splitlines() if not line.startswith("bc,"))
    err = refused(text + "\n", method="hoa")
    assert "predicts network 'abc'" in err and "0 serve exactly ['b', 'c']" in err


def test_refuses_an_unknown_method(refused):
    assert "method = 'greedy' is unknown; allowed: optimal, hoa, esa" in refused(HAND, method="greedy")


@pytest.mark.parametrize("budget", ["0", "-1", "nan", "inf", "two"])
def test_refuses_a_budget_that_is_not_a_positive_number(refused, budget):
    err = refused(HAND, budget=budget)
    assert "budget = " in err and "expected a positive" in err


def test_refuses_a_missing_file(refused):
    assert "cannot read loss table" in refused(None) and "No such file" in refused(None)


def test_refuses_an_unreadable_file(refused, tmp_path):
    (tmp_path / "losses.csv").write_bytes(b"network,task\n\xff\xfe,\x00\x81\n")
    assert "cannot read loss table" in refused(None)


def test_refuses_a_header_without_rows(refused):
    assert "has a header but no rows" in refused("network,task,val,test,cost\n\n")


def test_the_documented_examples_print_what_the_page_shows(tmp_path, capsys, monkeypatch):
    """docs/select.md's example file, each command on the page and the output shown under it."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "select.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(.*?)```", doc, flags=re.S)
    (tmp_path / "losses.csv").write_text(next(b for b in blocks if b.startswith("network,task,")))
    monkeypatch.chdir(tmp_path)
    shown = re.findall(r"^\$ mtlkit (.*)\n((?:[^$`].*\n)*)", "".join(blocks), flags=re.M)
    assert len(shown) == 3
    for command, expected in shown:
        code = main(command.split())
        out, err = capsys.readouterr()
        assert out + err == expected and code == (2 if err else 0), command


def test_a_budget_of_minus_infinity_is_read_as_a_value_and_refused_in_one_line(refused):
    err = refused(HAND, budget="-inf")
    assert "budget = -inf" in err and "expected a positive" in err


def test_numpy_scalars_are_budgets_in_the_python_api(tmp_path):
    path = tmp_path / "losses.csv"
    path.write_text(HAND)
    table = user_tables.read_losses(path, "optimal")
    plain = select(table, 2.0, "optimal")
    for budget in (np.int64(2), np.float32(2.0), np.float64(2)):
        assert select(table, budget, "optimal") == plain
    for budget in (np.bool_(True), np.float64("-inf"), np.int64(0)):
        with pytest.raises(TableError, match="budget = "):
            check_budget(budget)


def test_refuses_tasks_that_differ_only_in_case_naming_both_and_their_lines(refused):
    err = refused(HAND + "d,Seg,0.3,0.3,1,0.4\ne,seg,0.3,0.3,1,0.4\n")
    assert "tasks 'Seg' (line 15) and 'seg' (line 16) differ only in case" in err


def test_refuses_networks_that_differ_only_in_case(refused):
    err = refused(HAND + "AB,c,0.3,0.3,1,0.4\n")
    assert "networks 'ab' (line 5) and 'AB' (line 15) differ only in case" in err


@pytest.mark.parametrize(
    "old, new, named",
    [
        (",a,0.50,", ",my a,0.50,", "task = 'my a'"),  # printed today as two tasks, 'my' and 'a'
        (",a,0.50,", ",a\tb,0.50,", "task = 'a\\tb'"),
        ("ab,a,", '"a,b",a,', "network = 'a,b'"),
        ("c-half,", "c\x00half,", "network = 'c\\x00half'"),
    ],
)
def test_refuses_names_the_output_would_misprint(refused, old, new, named):
    err = refused(HAND.replace(old, new, 1))
    assert named in err and "one printable word without spaces or commas" in err


@pytest.mark.parametrize("name", ["total", "Total"])
def test_refuses_a_network_named_like_the_total_row(refused, name):
    err = refused(HAND.replace("c-half,", f"{name},"))
    assert f"line 14: a network is named {name!r}, the name of the output's last row" in err


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "c-half,c,0.36,0.37,0.5,",
            "c-half,c,0.36,0.37,1e-300,",
            "cost = 1e-300 (line 14); expected at least 1e-06",
        ),
        ("bc,c,0.33,", "bc,c,1e-320,", "line 10: val = 1e-320 is subnormal"),
        ("a,a,0.50,0.52,", "a,a,-1e308,-1e308,", "the val values' magnitudes add up past the largest float"),
    ],
)
def test_refuses_numbers_that_would_print_as_0_or_sum_to_infinity(refused, old, new, message):
    """A cost of 1e-300 printed as 0 and fell within the search's tolerance; two losses of -1e308 gave a
    total of -inf; a subnormal loss has lost its precision."""
    text = HAND.replace(old, new)
    if "-1e308" in new:
        text = text.replace("ab,a,0.42,0.44,", "ab,a,-1e308,0.44,")
    assert message in refused(text)


def test_a_small_loss_prints_in_full_not_as_0(tmp_path, capsys):
    rows = [line.split(",") for line in HAND.splitlines()]
    scaled = [rows[0]] + [
        [n, t, f"{float(v) * 1e-6:g}", f"{float(w) * 1e-6:g}", c, e] for n, t, v, w, c, e in rows[1:]
    ]
    path = tmp_path / "losses.csv"
    path.write_text("\n".join(",".join(r) for r in scaled) + "\n")
    code, out, err = run(capsys, path, "--budget", 2)
    assert code == 0 and not err, err
    total = parse(out)["total"]
    assert float(total[2]) == pytest.approx(1.10e-6) and float(total[3]) == pytest.approx(1.12e-6)


def test_a_trailing_comma_is_named_not_taken_for_data(refused):
    """A comma at the end of every row made pandas take the first column for an index (the message was
    about an empty cost); now the row's field count is compared with the header's."""
    lines = HAND.splitlines()
    err = refused("\n".join([lines[0], *(line + "," for line in lines[1:])]) + "\n")
    assert (
        "line 2 has 7 fields but the header names 6 columns; it ends with an empty field (a trailing comma?)"
        in err
    )
    err = refused("\n".join(line + "," for line in lines) + "\n")
    assert "has an empty column name (column 7: a trailing comma?)" in err


def test_the_files_csv_faults_are_one_line_with_the_path_and_line(refused, tmp_path):
    err = refused(HAND + 'x,"a,0.3,0.3,1,0.4\n')
    assert f"{str(tmp_path / 'losses.csv')!r} line 15: not CSV (unexpected end of data)" in err
    err = refused(HAND + "x,a,0.3,0.3,1,0.4,7\n")
    assert "line 15 has 7 fields but the header names 6 columns; extra ['7']" in err


def test_a_task_only_one_network_serves_is_selected_with_a_one_line_warning(tmp_path, capsys):
    path = tmp_path / "losses.csv"
    path.write_text(HAND + "d,segm,0.3,0.31,1,0.4\n")
    code, out, err = run(capsys, path, "--budget", 3)
    assert code == 0 and "| d | 1 | segm |" in out
    assert err == (
        "mtlkit: warning: task 'segm' is served by one network only ('d', line 15): every selection buys it; "
        "check the task's spelling\n"
    )
