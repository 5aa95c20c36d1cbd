"""The two commands and the pins: lock, environment.yml, pyproject and Makefile agree."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]


def lock_pins(name: str = "requirements.lock") -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def env_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.-]+)\s*(==|=)\s*([^\s#]+)", line)
        if m and m.group(1) != "python":
            pins[m.group(1).lower().replace("_", "-")] = m.group(3)
    return pins


def test_lock_pins_exactly_and_torch_2_13():
    pins = lock_pins()
    assert pins["torch"] == "2.13.0"
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line), line


def test_environment_yml_matches_lock():
    lock, env = lock_pins(), env_pins()
    assert env, "environment.yml lists no pinned packages"
    mismatched = {k: (v, lock.get(k)) for k, v in env.items() if lock.get(k) != v}
    assert not mismatched, f"environment.yml vs requirements.lock: {mismatched}"
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^name:\s*mtlkit\s*$", text, re.M)
    assert "- -e ." in text, "the pip section must install the package"


def test_every_runtime_dependency_is_locked_and_in_environment_yml():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in deps}
    lock, env = lock_pins(), env_pins()
    assert names <= set(lock), f"not in requirements.lock: {names - set(lock)}"
    assert names <= set(env), f"not in environment.yml: {names - set(env)}"
    assert {"pytest", "papermill", "ipykernel", "nbformat", "nbclient", "joblib", "tqdm"} <= set(lock)
    assert "jupyterlab" not in lock, "JupyterLab belongs in the `lab` extra only"


def test_site_and_test_extras_are_locked_and_in_environment_yml():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in extras["docs"] + extras["test"]}
    assert {"sphinx", "myst-nb", "selenium"} <= names
    lock, env = lock_pins(), env_pins()
    assert names <= set(lock), f"not in requirements.lock: {names - set(lock)}"
    assert names <= set(env), f"not in environment.yml: {names - set(env)}"


def test_makefile_targets_and_ci_command():
    make = (ROOT / "Makefile").read_text()
    for target in ("study", "test", "smoke", "lab", "bench", "report", "site"):
        assert re.search(rf"^{target}:", make, re.M), target
    assert "python3 -m venv" in make.replace("$(PYTHON)", "python3")
    assert "requirements.lock" in make
    assert not re.search(r"^\t.*\bconda\b", make, re.M), "the Makefile must not need conda"
    ci = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1].strip() == "make test"
    readme = (ROOT / "README.md").read_text()
    assert "make study" in readme and "make test" in readme


def test_bench_lock_pins_the_bench_extra_exactly():
    bench = lock_pins("requirements-bench.lock")
    assert bench == {"libmtl": "1.1.5", "torchjd": "0.18.0"}
    for line in (ROOT / "requirements-bench.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+", line), line
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    assert {d.split("==")[0].lower(): d.split("==")[1] for d in extra} == bench
    assert not set(bench) & set(lock_pins()), "a peer in both locks would be installed with its dependencies"


def test_makefile_installs_the_bench_lock_without_dependencies():
    make = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):(.*)$", make, re.M)
    assert stamp and "requirements-bench.lock" in stamp.group(1), (
        "the venv must be rebuilt when the lock changes"
    )
    installs = [ln for ln in make.splitlines() if "requirements-bench.lock" in ln and "pip install" in ln]
    assert installs and all("--no-deps" in ln for ln in installs), installs


def test_environment_yml_names_the_bench_pins_and_the_no_deps_install():
    text = (ROOT / "environment.yml").read_text()
    assert "pip install --no-deps -r requirements-bench.lock" in text
    listed = {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(r"^\s*#\s*-\s*([A-Za-z0-9_.-]+)==(\S+)\s*$", text, re.M)
    }
    assert listed == lock_pins("requirements-bench.lock"), listed
