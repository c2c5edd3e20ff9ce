PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint format bench clean browser preview translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/mailer init
	$(BIN)/mailer run

test: $(TEST_STAMP) browser
	$(BIN)/pytest -q -n auto

# Every email, rendered and photographed at 600 and 375 px, in preview/index.html.
preview: $(STAMP) browser
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[preview]'
	$(BIN)/mailer preview

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
	$(BIN)/python bench/roster.py
	$(BIN)/python bench/sheets_calls.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/seat_links.py

clean:
	rm -rf $(VENV) outbox state preview

# Messages -> locales/mailer.pot; each locales/<code>/LC_MESSAGES/mailer.po brought in step
# with it (new messages empty, gone ones kept as obsolete); .mo compiled beside each .po
# (mailer itself compiles the .po in memory when it loads, so the .mo is only a check).
translations: $(TEST_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k count:1,2 --add-comments=TRANSLATORS: \
	  --no-location --sort-output --project mailer -o locales/mailer.pot .
	$(BIN)/pybabel update -i locales/mailer.pot -d locales -D mailer --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d locales -D mailer --statistics
