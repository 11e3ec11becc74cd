#!/usr/bin/env bash
# Start the whole service (called by `make run` once the venv and model exist).
# Without WHATSAPP_ACCESS_TOKEN it runs in sandbox mode: the WhatsApp channel
# talks to the local fake Graph API on 127.0.0.1:8090 instead of Meta.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

if [ -z "${RASA_TOKEN:-}" ]; then
  if [ ! -s var/rasa_token ]; then
    .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' > var/rasa_token
    chmod 600 var/rasa_token
  fi
  RASA_TOKEN="$(cat var/rasa_token)"
  echo "RASA_TOKEN not set: using the token in var/rasa_token for the HTTP API."
fi
export RASA_TOKEN

processes=(actions rasa console)
if [ -z "${WHATSAPP_ACCESS_TOKEN:-}" ]; then
  echo "Sandbox mode: WhatsApp goes to the fake Graph API at http://127.0.0.1:8090"
  export WHATSAPP_API_URL="http://127.0.0.1:8090/v21.0"
  export WHATSAPP_ACCESS_TOKEN="sandbox-access-token"
  export WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-sandbox-app-secret}"
  export WHATSAPP_VERIFY_TOKEN="${WHATSAPP_VERIFY_TOKEN:-sandbox-verify-token}"
  export WHATSAPP_PHONE_NUMBER_ID="${WHATSAPP_PHONE_NUMBER_ID:-100000000000001}"
  export FAKE_GRAPH_TOKEN="$WHATSAPP_ACCESS_TOKEN"
  processes+=(fakegraph)
fi

.venv/bin/python -m lapor.db upgrade
exec .venv/bin/honcho -f Procfile start "${processes[@]}"
