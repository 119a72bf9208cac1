# TechScore — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TECHSCORE := $(VENV)/bin/techscore
MODEL_DIR ?= var/model

.PHONY: install model run demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The default model: trained on 100k synthetic firms the first time it is needed.
model: $(MODEL_DIR)/manifest.json

$(MODEL_DIR)/manifest.json: | install
	$(TECHSCORE) train -o $(MODEL_DIR)

demo: install model
	$(TECHSCORE) generate --rows 1000 --seed 7 -o var/demo/firms.csv
	$(TECHSCORE) score var/demo/firms.csv -o var/demo/scored.csv --model $(MODEL_DIR)
	@head -n 3 var/demo/scored.csv

run: demo

test: install
	$(PY) -m pytest

bench: install model
	$(PY) bench/bench_train.py
	$(PY) bench/bench_score.py
	$(PY) bench/bench_web.py

clean:
	rm -rf $(VENV) var
