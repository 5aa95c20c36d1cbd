# Every target bootstraps .venv itself (python3 -m venv + pip from requirements.lock, then the peers of
# requirements-bench.lock with --no-deps: LibMTL declares torchvision, which would replace torch); the venv is
# rebuilt from scratch whenever a lock or pyproject.toml changes. No conda needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: study test smoke lab bench report replicate lint site student hooks clean

$(STAMP): requirements.lock requirements-bench.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-bench.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

study: $(STAMP)  ## run every study in default mode into results/
	$(BIN)/mtlkit run all --mode default

test: $(STAMP)  ## the test suite (what CI runs)
	$(BIN)/python -m pytest -q

smoke: $(STAMP)  ## every notebook in smoke mode, into a temporary folder
	$(BIN)/mtlkit run all --mode smoke --out "$$(mktemp -d)"

bench: $(STAMP)  ## speed measurements into results/benchmarks/
	$(BIN)/python -m benchmarks

report: $(STAMP)  ## print every study's claims table from results/
	$(BIN)/mtlkit report

replicate: $(STAMP)  ## every study again on disjoint seeds -> results/<study>/replication.json
	$(BIN)/mtlkit replicate all --mode default

site: $(STAMP)  ## the static site: README, docs/ and the executed notebooks in results/ -> build/site/index.html
	$(BIN)/python site/build.py build/site$(if $(STUDENT),-student --student)

student: $(STAMP)  ## the notebooks without their solutions (outputs cleared, check cells kept), into build/student/
	$(BIN)/mtlkit student --out build/student

lint: $(STAMP)
	$(BIN)/ruff check mtlkit tests benchmarks notebooks site tools
	$(BIN)/ruff format --check mtlkit tests benchmarks site tools

lab: $(STAMP)  ## JupyterLab (pinned in requirements-lab.lock) at the repository root; runs by hand write to results/lab/ (ignored)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-lab.lock
	$(BIN)/jupyter lab --ServerApp.root_dir=.

hooks:  ## once per clone: git stores notebooks/ without outputs (the clean filter .gitattributes names)
	git config filter.nbclean.clean "python3 tools/nbclean.py"

clean:
	rm -rf $(VENV) results/smoke results/full build/site build/site-src build/site-doctrees build/site-student build/site-student-work
	find results/lab -mindepth 1 ! -name README.md -delete
