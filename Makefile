# ccc developer entry points. `make plan` and `make test` are the README quick start.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
EXAMPLE ?= examples/computeclasses/h100-obtainability.yaml

.PHONY: install plan demo test lint typecheck imports unit control-plane bench clean mutation

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install ccc with its dev tools

plan: $(STAMP) ## dry-run the shipped example class with the built-in catalog
	$(BIN)/ccc plan $(EXAMPLE) --replicas 4

demo: $(STAMP) ## run the controller on a local cluster through a stockout, live (Ctrl-C stops it)
	$(BIN)/python -m ccc.devcluster.demo

control-plane: ## build (or reuse from ~/.cache/ccc) etcd, kube-*, kwok, helm and the LWS controller
	hack/control-plane/build.sh

lint: $(STAMP)
	$(BIN)/ruff check ccc policies providers tests benchmarks hack
	$(BIN)/ruff format --check ccc policies providers tests benchmarks hack

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) ## fast tests only (no control plane)
	$(BIN)/pytest tests/unit -q

test: $(STAMP) ## everything: lint, types, import contracts, all tests (builds the control plane on first use)
	$(MAKE) --no-print-directory lint typecheck imports
	CCC_CONTROL_PLANE_BIN="$$(hack/control-plane/build.sh | tail -n 1)" $(BIN)/pytest -q

mutation: $(STAMP) ## mutation testing of policies/ (the decide step included; a clean run takes hours on 2 cores; not in `make test`)
	rm -rf mutants
	CCC_PROPERTY_EXAMPLES=10 nice -n 19 $(BIN)/mutmut run --max-children 1
	$(BIN)/python hack/mutation/score.py --min 90 --module-min 85 --survivors docs/mutation-survivors.md

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

IMAGE ?= ghcr.io/ccc-dev/ccc:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
.PHONY: image
image: ## build the controller image (needs docker; tag = package version = chart appVersion)
	docker build -t $(IMAGE) .
