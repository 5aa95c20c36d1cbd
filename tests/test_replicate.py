"""``mtlkit replicate``: a finished study re-run on disjoint seeds, both verdicts recorded beside the
untouched outputs, shown by ``mtlkit report``, stale ones ignored, and README's table kept in step."""

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from mtlkit import replication, replication_readme
from mtlkit.cli import main
from mtlkit.results import REPO_DIR, file_sha256
from mtlkit.stats import Claim

STUDY = "03_task_grouping"
VERDICTS = ("reproduced", "contradicted", "absent", "inconclusive")


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _hashes(folder: Path) -> dict[str, str]:
    return {
        f.relative_to(folder).as_posix(): file_sha256(f) for f in sorted(folder.rglob("*")) if f.is_file()
    }


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    """Study 03 run once in smoke mode, then replicated into the same --out: the study's folder, its files'
    hashes before the replication, and what ``mtlkit replicate`` printed."""
    out = tmp_path_factory.mktemp("replicate")
    code, _, err = _main(["run", STUDY, "--mode", "smoke", "--out", str(out)])
    assert code == 0, err
    folder = out / STUDY
    before = _hashes(folder)
    code, printed, err = _main(["replicate", "03", "--out", str(out)])
    assert code == 0, err
    return folder, before, printed


def test_replication_runs_on_as_many_disjoint_seeds_and_leaves_the_outputs_alone(replicated):
    folder, before, printed = replicated
    assert printed.strip() == str(folder / "replication.json")
    data = json.loads((folder / "replication.json").read_text())
    original = json.loads((folder / "manifest.json").read_text())["seeds"]
    assert original == [0, 1] and data["original_seeds"] == original
    assert data["seeds"] == [2, 3], "the next block of seeds of the same size"
    assert data["params"]["seed"] == 2 and data["params"]["mode"] == "smoke" and data["params"]["out"] is None
    assert data["claims_sha256"] == file_sha256(folder / "claims.json")
    after, notebook = _hashes(folder), f"{STUDY}.ipynb"
    assert after.pop("replication.json") and after.pop(notebook) != before.pop(notebook)
    assert after == before, "the study's outputs other than its notebook must stay byte-identical"


def _claims_markdown(folder: Path) -> list[str]:
    nb = json.loads((folder / f"{folder.name}.ipynb").read_text(encoding="utf-8"))
    texts = [
        "".join(o["data"]["text/markdown"])
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]
    return [t for t in texts if "| id |" in t]


def test_the_notebook_claims_table_shows_the_replication_and_fragile(replicated, tmp_path):
    folder, _, _ = replicated
    (table,) = _claims_markdown(folder)
    assert "| verdict | replication |" in table and "*Replication* (`mtlkit replicate`, seeds 2–3" in table
    data = json.loads((folder / "replication.json").read_text())
    lines = table.split("\n")
    start = next(i for i, x in enumerate(lines) if x.startswith("| id | claim |"))
    body = lines[start + 2 : next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in body}
    for r in data["claims"]:
        shown = f"| {r['original']['verdict']}" in rows[r["id"]] and (
            ("fragile: " in rows[r["id"]]) == r["fragile"]
        )
        assert shown, rows[r["id"]]
    copy = tmp_path / STUDY
    shutil.copytree(folder, copy)
    before = (copy / f"{STUDY}.ipynb").read_bytes()
    assert replication.annotate_notebook(copy) and (copy / f"{STUDY}.ipynb").read_bytes() == before, (
        "idempotent"
    )
    (copy / "claims.json").write_text(
        (copy / "claims.json").read_text() + " "
    )  # the replication is now stale
    assert not replication.annotate_notebook(copy) and (copy / f"{STUDY}.ipynb").read_bytes() == before


def test_each_claim_carries_both_verdicts_and_fragile_means_they_differ(replicated):
    folder, _, _ = replicated
    data = json.loads((folder / "replication.json").read_text())
    claims = {c["id"]: c for c in json.loads((folder / "claims.json").read_text())["claims"]}
    assert [r["id"] for r in data["claims"]] == list(claims)
    for r in data["claims"]:
        a, b = r["original"], r["replication"]
        assert a["verdict"] == claims[r["id"]]["verdict"] and a["estimate"] == claims[r["id"]]["estimate"]
        assert b["verdict"] in VERDICTS and b["n"] == 2
        assert b["low"] is None or b["low"] <= b["estimate"] <= b["high"]
        assert r["fragile"] == (a["verdict"] != b["verdict"])


def test_a_rerun_that_changes_only_prose_keeps_the_replication(replicated, tmp_path):
    folder, _, _ = replicated
    out = tmp_path / "out"
    shutil.copytree(folder.parent, out)  # the study, its replication and its sweep cache
    kept = (out / STUDY / "replication.json").read_bytes()
    assert json.loads(kept)["notebook_code_sha256"] == replication.code_sha256(
        REPO_DIR / "notebooks" / f"{STUDY}.ipynb"
    )
    code, _, err = _main(["run", STUDY, "--mode", "smoke", "--out", str(out)])  # from the cache: same claims
    assert code == 0, err
    assert (out / STUDY / "replication.json").read_bytes() == kept
    (table,) = _claims_markdown(out / STUDY)
    assert "| verdict | replication |" in table
    # the same bytes do not apply to other code cells, or to other claims
    other = tmp_path / "other.ipynb"
    nb = json.loads((REPO_DIR / "notebooks" / f"{STUDY}.ipynb").read_text(encoding="utf-8"))
    next(c for c in nb["cells"] if c["cell_type"] == "code")["source"] += "\n"
    other.write_text(json.dumps(nb), encoding="utf-8")
    (out / STUDY / "replication.json").unlink()
    assert not replication.carry_over(kept, out / STUDY, other)
    assert not (out / STUDY / "replication.json").exists()
    (out / STUDY / "claims.json").write_text((out / STUDY / "claims.json").read_text() + " ")
    assert not replication.carry_over(kept, out / STUDY, REPO_DIR / "notebooks" / f"{STUDY}.ipynb")


def test_report_shows_the_replication_and_ignores_a_stale_one(replicated, tmp_path):
    folder, _, _ = replicated
    data = json.loads((folder / "replication.json").read_text())
    table = replication.report_markdown(folder)
    assert "| verdict | replication |" in table.splitlines()[0]
    column = table.splitlines()[0].split(" | ").index("replication")
    for r in data["claims"]:
        row = next(line for line in table.splitlines() if line.startswith(f"| {r['id']} |"))
        shown = row.split(" | ")[column]  # the column after `verdict`
        assert shown.startswith("fragile: ") == r["fragile"] and r["replication"]["verdict"] in shown
    copy = tmp_path / STUDY
    shutil.copytree(folder, copy)
    claims = json.loads((copy / "claims.json").read_text())
    claims["claims"][0]["estimate"] += 1.0
    (copy / "claims.json").write_text(json.dumps(claims))
    loaded, why = replication.load(copy)
    assert loaded is None and "stale" in why
    table = replication.report_markdown(copy)
    assert table.startswith("⚠ ") and "stale" in table.splitlines()[0]
    assert "replication" not in table.splitlines()[1], "a stale replication must not be shown"
    code, printed, _ = _main(["report", "--results", str(tmp_path)])
    assert code == 0 and "stale" in printed
    assert "stale, left out" in replication_readme.replication_markdown(tmp_path)


def test_readme_renders_the_table_from_replication_files(replicated, tmp_path):
    folder, _, _ = replicated
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{replication_readme.BEGIN}\nold\n{replication_readme.END}\n\nafter\n")
    assert replication_readme.update_readme(readme, folder.parent)
    section = replication_readme.readme_section(readme)
    assert section == replication_readme.replication_markdown(folder.parent)
    data = json.loads((folder / "replication.json").read_text())
    verdicts, power = section.split("Fragile claims", 1)[0], section.split("Power", 1)[1]
    assert verdicts.count(f"| {STUDY} |") == len(data["claims"]) == power.count(f"| {STUDY} |")
    fragile = [r["id"] for r in data["claims"] if r["fragile"]]
    listed = section.split("Fragile claims", 1)[1].split("Power", 1)[0]
    assert all(f"{STUDY} {cid}:" in listed for cid in fragile)
    assert (listed.strip().endswith("none.")) == (not fragile)
    assert not replication_readme.update_readme(readme, folder.parent), "a second update changes nothing"
    assert readme.read_text().endswith("\n\nafter\n")


def test_readme_table_matches_the_committed_replications():
    """README's replication section is what ``mtlkit report --readme`` renders from the committed
    ``results/*/replication.json`` (with none yet, the placeholder that says so)."""
    expected = replication_readme.replication_markdown(REPO_DIR / "results")
    assert replication_readme.readme_section(REPO_DIR / "README.md") == expected, (
        "README's replication table is out of date: run `mtlkit report --readme`"
    )


def test_compare_marks_a_changed_or_missing_verdict_fragile():
    def claim(cid: str, values: list[float]) -> Claim:
        return Claim.test(cid, "it helps", values, effect="gain", paper="")

    original = [claim("C1", [1.0, 1.1, 0.9]), claim("C2", [1.0, 1.1, 0.9]), claim("C3", [1.0, 1.1])]
    again = [claim("C1", [1.0, 1.2, 0.8]), claim("C2", [1.0, -1.0, 0.5]), claim("C4", [1.0, 1.1])]
    rows = {r["id"]: r for r in replication.compare(original, again)}
    assert list(rows) == ["C1", "C2", "C3", "C4"]
    assert not rows["C1"]["fragile"] and rows["C1"]["replication"]["verdict"] == "reproduced"
    assert rows["C2"]["fragile"] and rows["C2"]["replication"]["verdict"] == "inconclusive"
    assert rows["C3"]["fragile"] and rows["C3"]["replication"] is None
    assert rows["C4"]["fragile"] and rows["C4"]["original"] is None


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["replicate", "03"], "has no finished results"),
        (["replicate", "all"], "00_landscape has no finished results"),
        (["replicate", "99"], "unknown study '99'"),
    ],
)
def test_replicate_refuses_in_one_line(argv, fragment, tmp_path):
    code, printed, err = _main([*argv, "--out", str(tmp_path)])
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not printed and not list(tmp_path.iterdir()), "nothing may run or be written"


def test_replicate_refuses_a_mode_that_is_not_the_original_runs(replicated):
    folder, _, _ = replicated
    code, _, err = _main(["replicate", "03", "--mode", "default", "--out", str(folder.parent)])
    assert code == 2 and "holds a smoke-mode run" in err and err.count("\n") == 1, err


DAMAGED = {
    "manifest.json": ["{}", "[]", "", "garbage", "[" * 100_000 + "]" * 100_000, '{"mode": "smoke"}'],
    "claims.json": ["{}", "garbage", '{"claims": [{"id": 1}]}', '{"claims": [1]}', '{"claims": 3}'],
}


@pytest.mark.parametrize(("name", "text"), [(n, t) for n, texts in DAMAGED.items() for t in texts])
def test_a_damaged_manifest_or_claims_file_is_refused_in_one_line_naming_it(tmp_path, name, text):
    folder = tmp_path / "00_landscape"
    folder.mkdir()
    for f in ("manifest.json", "claims.json"):
        shutil.copy(REPO_DIR / "results" / "00_landscape" / f, folder / f)
    (folder / name).write_text(text)
    commands = [["replicate", "00", "--out", str(tmp_path)]]
    if name == "claims.json":
        commands.append(["report", "--results", str(tmp_path)])
    for argv in commands:
        code, printed, err = _main(argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert f"00_landscape/{name} is damaged" in err and not printed, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00_landscape"], "nothing ran"
