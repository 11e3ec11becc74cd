"""WhatsApp Cloud API transport: webhook parsing, Graph API client, outbound delivery.

Nothing here imports Rasa: the Rasa channel (``channels/whatsapp.py``) is a thin
adapter around :mod:`lapor.whatsapp.inbound` and :mod:`lapor.whatsapp.outbound`,
and the operator console uses :mod:`lapor.whatsapp.outbound` directly.
"""
