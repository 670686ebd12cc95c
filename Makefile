# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
OUT ?= out/run
ARGS ?=

.PHONY: run report test lint audit tools bench bench-quick simulate train-preach clean kafka-up kafka-down flink-up flink-down

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## run: simulate a social network, run the reciprocity job on the DirectRunner, print the summary.
run: $(STAMP)
	$(BIN)/python -m pipelines.reciprocity --output $(OUT) $(ARGS)

## report: a PNG and a self-contained HTML page of the last `make run` (OUT=dir for another run; ARGS, e.g.
## ARGS="--kafka_bootstrap 127.0.0.1:9092", for the topics instead).
report: $(STAMP)
	$(BIN)/python -m pipelines.report --output $(OUT) $(ARGS)

## test: lint, then the whole suite (installs promtool/prometheus from Debian when missing).
test: $(STAMP) lint tools
	$(BIN)/python -m pytest -q -ra

tools:
	bash deploy/local/install-tools.sh

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests
	$(BIN)/ruff format --check pipelines tests
	$(BIN)/mypy

## audit: known vulnerabilities in the installed dependencies (pip-audit; needs PyPI's JSON API or OSV).
## --strict: a dependency that cannot be audited fails the target instead of being skipped in silence.
audit: $(STAMP)
	$(BIN)/pip-audit --progress-spinner off --strict --skip-editable $(ARGS)

## bench: every performance figure in one run (bench/results/*.json); bench-quick: 100k events.
bench: $(STAMP)
	$(BIN)/python -m pipelines.bench $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m pipelines.bench --quick $(ARGS)

## train-preach: refit the preaching classifier on the corpus' tuning parts, write its JSON, print the evaluation.
train-preach: $(STAMP)
	$(BIN)/python -m pipelines.cli.train_preach $(ARGS)

simulate: $(STAMP)
	$(BIN)/python -m pipelines.simulate --output .cache/sim/events.avro $(ARGS)

## kafka-up / kafka-down: a real single-node Kafka 4 broker on 127.0.0.1:9092 (jars from Maven Central).
kafka-up:
	bash deploy/local/kafka.sh up
	bash deploy/local/kafka.sh topics

kafka-down:
	bash deploy/local/kafka.sh down

## flink-up / flink-down: a Flink 1.19 standalone cluster on loopback with Beam's Flink job server and Python worker
## pool (FLINK_TASKMANAGERS=2 for two TaskManagers). The worker pool runs this project from .venv, hence $(STAMP).
flink-up: $(STAMP)
	bash deploy/local/flink.sh up

flink-down:
	bash deploy/local/flink.sh down

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
