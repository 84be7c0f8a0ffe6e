# Two entry points: `make demo` (the main job) and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint bench bench-brax clean

demo: $(STAMP)
	$(BIN)/lamour demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# requirements.lock pins the full transitive set (made with `pip freeze`); the project itself
# installs editable on top, without re-resolving.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/train_throughput.py

# Brax's PPO needs an older JAX: its own venv, used by this benchmark alone.
.venv-brax/.installed: benchmarks/brax-requirements.txt
	test -x .venv-brax/bin/python || $(PYTHON) -m venv .venv-brax
	.venv-brax/bin/python -m pip install --quiet -r benchmarks/brax-requirements.txt
	# This project too, without its pins, so our trainer runs on brax's JAX (same-env row).
	.venv-brax/bin/python -m pip install --quiet --no-deps -e .
	touch $@

bench-brax: $(STAMP) .venv-brax/.installed
	.venv-brax/bin/python benchmarks/brax_ppo.py
	.venv-brax/bin/python benchmarks/brax_ppo.py --loop reuse

clean:
	rm -rf $(VENV) .venv-brax out .pytest_cache
