#!/usr/bin/env bash
# Every test: Rasa data validation, conversation tests, then pytest
# (core, actions, channel, end-to-end over HTTP) on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var results

echo "== rasa data validate"
.venv/bin/python scripts/validate_data.py

echo "== rasa test (conversation tests)"
.venv/bin/rasa test core --e2e --model models/lapor.tar.gz --stories tests/conversations \
  --fail-on-prediction-errors --out results/core --quiet

echo "== pytest"
.venv/bin/python -m pytest tests "$@"
