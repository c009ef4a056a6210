# The README's commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint demo backtest research models evaluate bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m bot

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check bot core db ml tests bench webapp
	$(PY) -m mypy

demo: install
	$(PY) -m core.backtest.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

backtest: install
	$(PY) -m core.backtest --data data/ohlcv --symbols BTC/USD,ETH/USD,LTC/USD,XRP/USD,EOS/USD \
		--start 2018-04-01 --end 2019-03-31

research: install
	mkdir -p reports
	$(PY) -m ml.research --data data/ohlcv --json reports/research.json --plot reports/research.png

models: install
	$(PY) -m ml.train --data data/ohlcv --symbols BTC/USD,ETH/USD,LTC/USD,XRP/USD,EOS/USD \
		--timeframe 1h --until 2019-01-01 --seed 42 --out models

evaluate: install
	$(PY) -m ml.evaluate --data data/ohlcv --symbols BTC/USD,ETH/USD,LTC/USD,XRP/USD,EOS/USD \
		--models models --start 2019-01-01 --end 2019-03-31

bench: install
	$(PY) -m bench.bench_backtest
	$(PY) -m bench.bench_models
	$(PY) -m bench.bench_exchange_orders
	$(PY) -m bench.bench_live_confirmations
	$(PY) -m bench.bench_delivery
