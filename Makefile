# `make pipeline` sets up .venv and runs the default pipeline; `make test` runs the tests.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stage commands (`genbench ...`) run by dvc and snakemake resolve from the venv.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup system pipeline snakemake test bench lock

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock requirements-no-deps.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-no-deps.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

pipeline: setup
	dvc repro

snakemake: setup
	snakemake --profile profiles/local

# Three workers on two cores: much of a pipeline test waits (on SLURM's status polls, on the shared
# tiny run's lock), and a third worker fills those waits (docs/contributing.md has the measurement).
TEST_WORKERS ?= 3

# System packages the tests start for real (installing them needs root): Debian's Chromium opens
# the report; munge, slurmctld and slurmd make a one-node SLURM cluster (tests/slurm_cluster.py).
SYSTEM_PACKAGES := chromium fonts-dejavu-core munge slurmctld slurmd slurm-client
system:
	@{ command -v chromium && test -x /usr/sbin/slurmctld && test -x /usr/sbin/slurmd && command -v sbatch; } >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }

test: setup system
	pytest -n $(TEST_WORKERS) --dist worksteal --durations=10

# Benchmarks need the reference implementation too (bench/requirements.txt); see bench/run.py.
bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	python bench/run.py

# Re-resolve the direct dependencies of pyproject.toml and write their exact versions (requirements-no-deps.lock is
# pinned by hand: its packages' declared dependencies are not installed).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# Exact versions of every package in the environment (pip freeze --all)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu$$//'; } > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock
	rm -rf .lock-venv
