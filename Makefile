# Entry points for development and CI; `make` alone lists them.
# Settings come from abaco.conf plus ABACO_<SECTION>_<KEY> environment overrides.

SHELL := /bin/bash
.DEFAULT_GOAL := help
# Prerequisites run in the order written (install, images, up), even under make -j.
.NOTPARALLEL:

PY := .venv/bin/python
STACK := scripts/stack.sh
PYTEST_ARGS ?=

.PHONY: help install images up down status demo test unit lint bench clean image-core images-compose \
	compose-up compose-down

help: ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | \
		awk -F'\t' '{ printf "  %-14s %s\n", $$1, $$2 }'

install: ## install Debian packages and .venv (only what is missing or stale)
	@scripts/install.sh

images: install ## build the base and sample actor images (FORCE=1 rebuilds the bases)
	@$(STACK) docker
	images/build.sh $(if $(FORCE),--force)

up: install ## start the stack: dockerd, redis, rabbitmq if needed; every platform process under supervisord
	@$(STACK) up

down: ## stop what `make up` started; services found running are left alone
	@$(STACK) down

status: ## show each component: state, pid, who started it, address
	@$(STACK) status

demo: install images up ## register a sample actor, send it a message, show the result
	$(PY) scripts/demo.py

# pytest's exit status is the recipe's, so make reports it ("Error 5": no tests ran).
test: install images up ## run the test suite against the real services (PYTEST_ARGS=...)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS) tests

unit: install ## run the tests that need no service (tests/unit), in well under a minute
	$(PY) -m pytest -q -ra $(PYTEST_ARGS) tests/unit

lint: install ## ruff (F, E, B, I) over the tree and mypy over actors/
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: install images up ## run the benchmarks against the running stack (hosts.py starts a second dockerd)
	$(PY) bench/latency.py
	$(PY) bench/throughput.py
	$(PY) bench/accounting_overhead.py
	$(PY) bench/ingest.py
	$(PY) bench/hosts.py
	$(PY) bench/autoscale.py
	$(PY) bench/logstream.py
	$(PY) bench/warm.py
	$(PY) bench/executor.py --tasks 200
	$(PY) bench/dashboard.py

image-core: images ## build abaco/core:local, the one image of every platform process (wheelhouse, no network)
	images/deploy.sh core $(if $(FORCE),--force)

images-compose: image-core ## also build abaco/redis:local and abaco/rabbitmq:local (Debian packages; slow once)
	images/deploy.sh services $(if $(FORCE),--force)

compose-up: install images-compose ## start the platform as docker-compose services (docker-compose.yml)
	@scripts/compose.sh up

compose-down: ## stop the docker-compose services and remove their containers
	@scripts/compose.sh down

clean: down ## stop the stack and delete .data (stores, queues, keys, logs)
	rm -rf .data
