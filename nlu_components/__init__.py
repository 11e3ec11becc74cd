"""Custom Rasa NLU components of Lapor Kand4."""
