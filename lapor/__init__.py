"""Lapor Kand4 complaint core: models, services, routing and the region gazetteer.

The Rasa actions, the WhatsApp channel and the operator console all import this
package; nothing here depends on Rasa.
"""
