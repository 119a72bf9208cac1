# TechScore — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TECHSCORE := $(VENV)/bin/techscore
MODEL_DIR ?= var/model
DEV_KEY ?= var/dev-officer.key

.PHONY: install model run demo test test-fast bench clean report

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The default model: trained on 100k synthetic firms the first time it is needed.
model: $(MODEL_DIR)/bundle.json

# Registered as trusted (var/trusted_bundles.json), so the server may load it.
$(MODEL_DIR)/bundle.json: | install
	$(TECHSCORE) train -o $(MODEL_DIR) --trust

demo: install model
	$(TECHSCORE) generate --rows 1000 --seed 7 -o var/demo/firms.csv
	$(TECHSCORE) score var/demo/firms.csv -o var/demo/scored.csv --model $(MODEL_DIR)
	@head -n 3 var/demo/scored.csv

# A development officer key, created once; its secret is kept in $(DEV_KEY) for this machine only.
$(DEV_KEY): | install
	@mkdir -p $(dir $@)
	@umask 077; $(TECHSCORE) keys create --role officer > $@.tmp && mv $@.tmp $@

run: install model $(DEV_KEY)
	@echo "TechScore API on http://127.0.0.1:8000 (docs: http://127.0.0.1:8000/docs)"
	@echo "loan officer's page: http://127.0.0.1:8000/ (sign in with the key below)"
	@echo "development officer key: $$(cat $(DEV_KEY))"
	@echo "try: curl -s http://127.0.0.1:8000/v1/scores -H 'X-API-Key: '$$(cat $(DEV_KEY)) -H 'Content-Type: application/json' -d '{\"firm_id\": \"91440300MA5DK7QX24\", \"revenue_y0\": 6800}'"
	$(TECHSCORE) serve --host 127.0.0.1 --port 8000 --model $(MODEL_DIR)

# One pytest worker per core (at most 4); a module's tests stay on one worker, so its fixtures are built once.
test: install
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadscope

# The everyday loop: everything but the tests marked slow (servers, kill -9, fuzzing, big property runs).
test-fast: install
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadscope -m "not slow"

# Benchmark-only peers (optbinning, toad) come with the `bench` extra; the product never imports them.
bench: install model
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) bench/bench_train.py
	$(PY) bench/bench_batch.py --rows 100000 --model $(MODEL_DIR)
	$(PY) bench/bench_batch.py --rows 1000000 --model $(MODEL_DIR)
	$(PY) bench/bench_api.py --model $(MODEL_DIR)
	$(PY) bench/bench_next_grade.py --model $(MODEL_DIR)
	$(PY) bench/bench_validation.py
	$(PY) bench/bench_files.py
	$(PY) bench/bench_explain.py --model $(MODEL_DIR)
	$(PY) bench/bench_policy.py --firms 20000
	$(PY) bench/bench_uploads.py --model $(MODEL_DIR)
	$(PY) bench/bench_store.py --model $(MODEL_DIR)
	$(PY) bench/bench_book.py

# The validation report of the default model (HTML + PNG figures in var/report/).
report: install model
	$(TECHSCORE) report --model $(MODEL_DIR) -o var/report/report.html
	$(PY) bench/bench_web.py --model $(MODEL_DIR)

clean:
	rm -rf $(VENV) var
