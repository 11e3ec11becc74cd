# Lapor Kand4 — two commands: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/lapor.tar.gz
STAMP := $(VENV)/.installed
# Rasa's telemetry and error reports would try to reach the internet.
export RASA_TELEMETRY_ENABLED := false
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)

.PHONY: run test setup model bench shell clean lint admin

run: setup $(MODEL)  ## Start the whole service (sandbox WhatsApp when no token is set)
	@scripts/run.sh

test: setup $(MODEL)  ## Run every test: data validation, conversation tests, pytest
	@scripts/test.sh

bench: setup $(MODEL)  ## Print the benchmark figures
	@$(PY) -m bench

shell: setup $(MODEL)  ## Chat with the bot in the terminal (needs `make run` or the action server)
	@mkdir -p var && $(RASA) shell --model $(MODEL) --endpoints endpoints.yml

admin: setup  ## Create the console's first admin (ADMIN_USERNAME, ADMIN_PASSWORD or asked)
	@$(PY) -m lapor.console create-admin

setup: $(STAMP)

model: $(MODEL)

# Find Python 3.10: pyenv's (via .python-version / PYENV_VERSION) or a plain python3.10.
$(STAMP): requirements.txt constraints.txt
	@set -e; \
	py=$$(PYENV_VERSION=3.10 python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null \
	      || command -v python3.10 || true); \
	if [ -z "$$py" ]; then echo "Python 3.10 is required (Rasa 3.6 supports 3.8-3.10)."; exit 1; fi; \
	echo "Creating $(VENV) with $$py"; \
	[ -x $(PY) ] || "$$py" -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade "pip==24.0"; \
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt; \
	touch $(STAMP)

# Retrain only when the training data, domain or config changed.
$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	@mkdir -p models
	$(RASA) train --fixed-model-name lapor --out models --quiet
	@touch $(MODEL)

lint: setup
	$(VENV)/bin/ruff check lapor actions channels nlu_components tests bench
	$(VENV)/bin/ruff format --check lapor actions channels nlu_components tests bench

clean:
	rm -rf models results .rasa
