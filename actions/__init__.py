"""Rasa custom actions of Lapor Kand4 (thin wrappers around the ``lapor`` core)."""
