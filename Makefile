PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Test folders in memory when the machine has it: the suite writes and removes
# thousands of small files (ledgers, outboxes, sheets), slow on a busy disk.
TEST_TMPDIR := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm)
# worksteal: an idle worker takes queued tests from a busy one (the durations are uneven).
PYTEST := $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR) )$(BIN)/pytest -q -n auto --dist worksteal

.PHONY: run test test-all lint format bench clean browser preview image image-test image-tools translations spamassassin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# --no-compile: Python compiles what it imports when it first does; compiling every
# module of every dependency up front took 40% of a fresh install here (384 s -> 230 s, loaded).
# That needs Python to keep what it compiled: a shell that sets PYTHONDONTWRITEBYTECODE made
# every process compile SQLAlchemy again (import 0.23 s -> 0.53 s, `make test` 85 s -> 70 s).
unexport PYTHONDONTWRITEBYTECODE
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check --no-compile

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/mailer init
	$(BIN)/mailer run

# Every scenario at the scale that proves it; under a minute on two cores.
test: $(TEST_STAMP) browser
	$(PYTEST) -m "not slow"

# Everything, with the long versions (marked slow): 20 kills, 3,000 readers, the whole gallery.
test-all: $(TEST_STAMP) browser spamassassin
	$(PYTEST)

# Every email, rendered and photographed at 600 and 375 px, in preview/index.html.
preview: $(STAMP) browser
	$(PIP_INSTALL) -e '.[preview]'
	$(BIN)/mailer preview

# The spam-score test runs Debian's spamassassin (local rules only, no network).
spamassassin:
	@command -v spamassassin >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing spamassassin for the spam-score test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends spamassassin >/dev/null; } \
	      || echo "WARNING: could not install spamassassin: the spam-score test will be skipped"; \
	  else \
	    echo "spamassassin is not installed: the spam-score test will be skipped (apt-get install spamassassin)"; \
	  fi; }

# Browser tests drive Debian's chromium; install it when missing and we may.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "WARNING: could not install chromium: browser tests will be skipped"; \
	  else \
	    echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)"; \
	  fi; }

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(TEST_STAMP)
	$(BIN)/python bench/goals.py
	$(BIN)/python bench/roster.py
	$(BIN)/python bench/sheets_calls.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/shared_ledger.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/seat_links.py

clean:
	rm -rf $(VENV) outbox state preview

# Messages -> locales/mailer.pot; each locales/<code>/LC_MESSAGES/mailer.po brought in step
# with it (new messages empty, gone ones kept as obsolete); .mo compiled beside each .po
# (mailer itself compiles the .po in memory when it loads, so the .mo is only a check).
translations: $(TEST_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k counted:1,2 -k N_ --add-comments=TRANSLATORS: \
	  --no-location --sort-output --project mailer -o locales/mailer.pot .
	$(BIN)/pybabel update -i locales/mailer.pot -d locales -D mailer --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d locales -D mailer --statistics

# The image (Containerfile), built and tried here without an image registry: a
# Debian base from the distribution's mirror (mmdebstrap), podman with its storage
# under build/podman, runc, host networking. See docs/image.md.
IMAGE ?= localhost/mailer:latest
PODMAN_DIR := $(CURDIR)/build/podman
BASE_TAR := build/image/debian-bookworm-python.tar
image image-test: export CONTAINERS_CONF := $(PODMAN_DIR)/containers.conf
image image-test: export CONTAINERS_STORAGE_CONF := $(PODMAN_DIR)/storage.conf

image-tools:
	@missing=""; for tool in podman:podman mmdebstrap:mmdebstrap runc:runc curl:curl; do \
	  command -v $${tool%%:*} >/dev/null 2>&1 || missing="$$missing $${tool#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(PODMAN_DIR)/containers.conf $(PODMAN_DIR)/storage.conf: image/podman.sh
	image/podman.sh $(PODMAN_DIR)

$(BASE_TAR):
	image/base.sh $@

image: image-tools $(PODMAN_DIR)/containers.conf $(BASE_TAR)
	image/build.sh $(BASE_TAR) $(IMAGE)

image-test: image
	image/test.sh $(IMAGE) build/image-test

