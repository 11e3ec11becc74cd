"""Ticket numbers: ``LK-`` and six characters nobody misreads on a phone."""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: the look-alikes citizens confuse when they type a ticket back.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 6
PREFIX = "LK-"

_TICKET_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])L\s*K[\s\-_.:#]*([A-Za-z0-9]{6})(?![A-Za-z0-9])", re.IGNORECASE
)


def new_ticket() -> str:
    """A fresh random ticket (about 8.9e8 possibilities, from a CSPRNG)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def find_ticket(text: str | None) -> str | None:
    """The ticket written in ``text``, normalised to ``LK-XXXXXX``, or None.

    Tolerates case, spaces and a missing or different dash: "lk 7kq2mx",
    "LK7KQ2MX", "Lk-7kq2Mx". Characters outside the alphabet make it invalid.
    """
    if not text:
        return None
    for match in _TICKET_IN_TEXT.finditer(text):
        code = match.group(1).upper()
        if all(ch in ALPHABET for ch in code):
            return PREFIX + code
    return None


def mentions_ticket(text: str | None) -> bool:
    """True when ``text`` holds something shaped like a ticket, valid or not."""
    return bool(text and _TICKET_IN_TEXT.search(text))
