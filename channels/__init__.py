"""Rasa custom channels (registered by class path in ``credentials.yml``)."""
