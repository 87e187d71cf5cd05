# mlops-operator — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV      ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV    := .venv
PY      := $(VENV)/bin/python
MLOPS   := $(VENV)/bin/mlops
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv

.PHONY: install
install: $(UV) ## Check the toolchain, install the Python environment (.venv, from uv.lock) and the Kubernetes binaries
	scripts/setup-machine.sh toolchain
	$(UV) sync --all-extras --frozen
	$(MLOPS) devcluster binaries

.PHONY: test-setup
test-setup: install ## What make test needs before it runs: install, and promtool and lua5.4 (apt-get when missing)
	scripts/setup-machine.sh test

.PHONY: lock
lock: ## Re-resolve uv.lock after editing dependencies
	$(UV) lock

.PHONY: test
test: test-setup ## Run every test tier: unit, integration (real control plane) and e2e
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: ## Run the unit tests only (no cluster)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: ## Run the integration tests (starts a private devcluster)
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: ## Run the end-to-end tests
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

.PHONY: test-reliability
test-reliability: ## Run the reliability suite in its bounded form (as make test does)
	$(PY) -m pytest -m reliability $(PYTEST_ARGS)

.PHONY: reliability
reliability: ## Run the reliability suite at full counts; on success rewrite docs/reliability.{json,md}
	mkdir -p build
	rm -f build/reliability.json
	MLOPS_RELIABILITY=full MLOPS_RELIABILITY_FIGURES=build/reliability.json \
		$(PY) -m pytest -m reliability $(PYTEST_ARGS)
	$(PY) tests/reliability/report.py build/reliability.json docs/reliability.json docs/reliability.md

.PHONY: lint
lint: ## ruff lint + format check, import layering
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

.PHONY: format
format: ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: typecheck
typecheck: ## mypy --strict over every package
	$(VENV)/bin/mypy

.PHONY: crds
crds: ## Generate crds/*.yaml and the chart's copy from the API types
	$(PY) -m mlops_operator.crdgen

.PHONY: crds-check
crds-check: ## Fail when the committed CRDs differ from the API types
	$(PY) -m mlops_operator.crdgen --check

.PHONY: dashboard
dashboard: ## Generate the Grafana dashboard JSON (grafana-foundation-sdk) into the chart
	$(PY) scripts/dashboard.py

.PHONY: dashboard-check
dashboard-check: ## Fail when the committed dashboard differs from its generator
	$(PY) scripts/dashboard.py --check

.PHONY: images
images: ## Build the three images (IMAGES="serving": only those named; SERVING_TORCH=1: the torch flavour of the serving image too) with buildah on a debootstrap base, no daemon or registry (cached in ~/.cache/mlops-images)
	PATH="$(dir $(UV)):$$PATH" images/build-images.sh

.PHONY: images-smoke
images-smoke: ## Run each image with podman: non-root, read-only root, health endpoint, size
	$(PY) images/smoke_images.py --check-tools
	$(MAKE) images
	$(PY) images/smoke_images.py

REGISTRY ?=
KIND_CLUSTER ?=
IMAGE_ARCHIVES ?= build/images

.PHONY: images-push
images-push: ## Push the three images to REGISTRY=host[/path] (buildah push; buildah login first) and print the chart values for them
	images/publish-images.sh check "$(REGISTRY)"
	$(MAKE) images
	images/publish-images.sh push "$(REGISTRY)"

.PHONY: kind-load
kind-load: ## Write the images as archives for kind (build/images/*.tar) and, with KIND_CLUSTER=name, load them into it
	$(MAKE) images
	images/publish-images.sh archives "$(IMAGE_ARCHIVES)" "$(KIND_CLUSTER)"

ACTIONLINT_VERSION := v1.7.12

.PHONY: actionlint
actionlint: ## Lint the GitHub workflows (.github/workflows) with actionlint, built once from the Go module proxy
	scripts/actionlint.sh $(ACTIONLINT_VERSION)

.PHONY: images-smoke-if-cached
images-smoke-if-cached: ## CI: smoke-test the images only when all three are cached (a cold build takes too long)
	@if command -v buildah >/dev/null && $(PY) images/smoke_images.py --check-tools 2>/dev/null \
	    && PATH="$(dir $(UV)):$$PATH" images/build-images.sh --cached-only; then \
	  $(PY) images/smoke_images.py; \
	else \
	  echo "images: not built for these inputs (or no buildah, podman or OCI runtime): skipped; run make images-smoke"; \
	fi

.PHONY: devcluster-up
devcluster-up: ## Start the local control plane, node agent and MinIO
	$(MLOPS) devcluster up

.PHONY: devcluster-down
devcluster-down: ## Stop the local control plane
	$(MLOPS) devcluster down

.PHONY: devcluster-status
devcluster-status: ## Show what runs in the local control plane
	$(MLOPS) devcluster status

.PHONY: demo
demo: install ## Local cluster + operator: train the threat-classifier example, serve it, canary the next version
	$(MLOPS) demo

.PHONY: bench
bench: ## Run the benchmarks (ratios against baselines measured in the same run); fails on a miss
	@$(PY) scripts/run_benchmarks.py

.PHONY: clean
clean: ## Remove caches of the tools (not ~/.cache)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
