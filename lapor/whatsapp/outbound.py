"""Messages to citizens: build Cloud API bodies, store them, send them in order.

Public coroutines (usable outside Rasa: the console, status notifications):

- :func:`send_text` — free text, split at 4096 characters on paragraph/word
  boundaries;
- :func:`send_buttons` — Rasa buttons as reply buttons (≤ 3), a list (4–10) or
  numbered text (> 10, or payloads too long for an id); never dropped;
- :func:`send_image`, :func:`send_document` — media by link;
- :func:`send_template` — an approved template;
- :func:`send_update` — free text inside the 24-hour window, the approved
  template outside it (and as a fallback when Meta answers 131047);
- :func:`send_body` — any Cloud API body (for ``custom`` Rasa responses).

Every message is stored in ``wa_outbound`` *before* it is sent, then updated
with its wamid (``sent``) or Meta's error (``failed``). Messages to one
recipient go out one at a time, in call order (a per-recipient lock in this
process; across replicas Rasa's lock store orders one conversation's turns).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from lapor import db
from lapor.models import Conversation, as_utc, utcnow
from lapor.whatsapp.graph import GraphError, GraphSettings, get_client
from lapor.whatsapp.models import WaMenu, WaOutbound, WaStatusEvent

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
LIST_ROWS_LIMIT = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LABEL = "Pilih"
CHOOSE_PROMPT = "Silakan pilih salah satu:"
NUMBERED_HINT = "Balas dengan angka pilihan Bapak/Ibu (misalnya: 1)."
WINDOW = dt.timedelta(hours=24)
# Send free text only when the window still has this much left.
WINDOW_MARGIN = dt.timedelta(minutes=10)
MENU_TTL = dt.timedelta(hours=6)
REENGAGEMENT_ERROR = 131047
# At most this many messages left pending are taken up in one sweep.
RESEND_BATCH = 50

_STATUS_RANK = {"pending": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3}

T = TypeVar("T")


@dataclass(frozen=True)
class Outgoing:
    """One Cloud API message to send (without ``to``/``messaging_product``)."""

    kind: str
    body: dict[str, Any]
    text: str | None = None
    menu: list[str] | None = None  # payloads of a numbered menu, if any


@dataclass(frozen=True)
class SendResult:
    """What happened to one stored outbound message."""

    outbound_id: int
    status: str  # "sent" | "failed"
    wamid: str | None = None
    error_code: int | None = None


# --------------------------------------------------------------------------- text


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters.

    Cuts at a blank line when one is reasonably far in, else at a line end,
    else at a space, else hard.
    """
    rest = text.strip()
    parts: list[str] = []
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            pos = rest.rfind(sep, 0, limit + 1)
            if pos >= limit // 4:
                cut = pos
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _payload(button: dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "")


def _title(button: dict[str, Any]) -> str:
    return str(button.get("title") or button.get("payload") or "")


def _list_row(button: dict[str, Any]) -> dict[str, str]:
    title = " ".join(_title(button).split())
    row = {"id": _payload(button)}
    if len(title) <= ROW_TITLE_LIMIT:
        row["title"] = title
    else:
        cut = title.rfind(" ", 0, ROW_TITLE_LIMIT + 1)
        if cut < ROW_TITLE_LIMIT // 2:
            row["title"] = shorten(title, ROW_TITLE_LIMIT)
            row["description"] = shorten(title, ROW_DESCRIPTION_LIMIT)
        else:
            row["title"] = title[:cut]
            row["description"] = shorten(title[cut + 1 :], ROW_DESCRIPTION_LIMIT)
    if button.get("description"):
        row["description"] = shorten(str(button["description"]), ROW_DESCRIPTION_LIMIT)
    return row


def numbered_text(text: str, buttons: Sequence[dict[str, Any]]) -> str:
    """The text of a numbered menu (choices with their full titles)."""
    lines = [f"{i}. {_title(b)}" for i, b in enumerate(buttons, start=1)]
    head = f"{text.strip()}\n\n" if text and text.strip() else ""
    return head + "\n".join(lines) + f"\n\n{NUMBERED_HINT}"


def plan_text(text: str) -> list[Outgoing]:
    """Text messages for ``text`` (one per 4096-character part)."""
    return [
        Outgoing("text", {"type": "text", "text": {"preview_url": False, "body": p}}, p)
        for p in split_text(text)
    ]


def plan_buttons(text: str, buttons: Sequence[dict[str, Any]]) -> list[Outgoing]:
    """Cloud API messages for a text with Rasa buttons (never drops a button).

    ≤ 3 buttons → reply buttons; 4–10 → a list; more, or a payload longer than
    an id may be → numbered text (the payloads are kept as a menu).
    """
    buttons = [b for b in buttons if _payload(b)]
    if not buttons:
        return plan_text(text)
    payloads = [_payload(b) for b in buttons]
    n = len(buttons)
    if n <= 3 and all(len(p) <= BUTTON_ID_LIMIT for p in payloads):
        kind = "button"
    elif n <= LIST_ROWS_LIMIT and all(len(p) <= ROW_ID_LIMIT for p in payloads):
        kind = "list"
    else:
        kind = "numbered"
    if kind == "numbered":
        parts = plan_text(numbered_text(text, buttons))
        last = parts[-1]
        parts[-1] = Outgoing(last.kind, last.body, last.text, menu=payloads)
        return parts

    planned: list[Outgoing] = []
    body_text = (text or "").strip()
    if len(body_text) > BODY_LIMIT:
        planned.extend(plan_text(body_text))
        body_text = CHOOSE_PROMPT
    elif not body_text:
        body_text = CHOOSE_PROMPT
    if kind == "button":
        interactive = {
            "type": "button",
            "body": {"text": body_text},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {
                            "id": _payload(b),
                            "title": shorten(_title(b), BUTTON_TITLE_LIMIT),
                        },
                    }
                    for b in buttons
                ]
            },
        }
    else:
        interactive = {
            "type": "list",
            "body": {"text": body_text},
            "action": {
                "button": LIST_BUTTON_LABEL,
                "sections": [{"rows": [_list_row(b) for b in buttons]}],
            },
        }
    readable = body_text + "\n" + "\n".join(f"[{_title(b)}]" for b in buttons)
    planned.append(
        Outgoing(
            "interactive", {"type": "interactive", "interactive": interactive}, readable
        )
    )
    return planned


def plan_template(name: str, language: str, params: Sequence[str]) -> Outgoing:
    """A template message with body parameters."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": str(p)} for p in params],
            }
        ]
    readable = f"[template {name}] " + " | ".join(str(p) for p in params)
    return Outgoing("template", {"type": "template", "template": template}, readable)


# ------------------------------------------------------------------------ storage


def _now_in_db(fn: Callable[[Session], T]) -> T:
    """A short write in the caller's thread (about a millisecond, pooled)."""
    with db.session_scope() as session:
        return fn(session)


async def _in_db(fn: Callable[[Session], T]) -> T:
    return await asyncio.to_thread(_now_in_db, fn)


def _store(to: str, item: Outgoing, author: str) -> Callable[[Session], int]:
    def store(session: Session) -> int:
        row = WaOutbound(
            recipient_id=to,
            author=author,
            kind=item.kind,
            text=item.text,
            body={"recipient_type": "individual", "to": to, **item.body},
            status="pending",
            attempts=0,
            created_at=utcnow(),
            claimed_at=utcnow(),
        )
        session.add(row)
        if item.menu is not None:
            menu = session.get(WaMenu, to)
            if menu is None:
                session.add(
                    WaMenu(sender_id=to, payloads=item.menu, created_at=utcnow())
                )
            else:
                menu.payloads = item.menu
                menu.created_at = utcnow()
        session.flush()
        return row.id

    return store


def _apply_event(row: WaOutbound, event: WaStatusEvent) -> None:
    when = event.occurred_at or utcnow()
    if event.status == "failed":
        row.failed_at = when
        row.error_code = event.error_code
        row.error_title = event.error_title
        if _STATUS_RANK.get(row.status, 0) < _STATUS_RANK["delivered"]:
            row.status = "failed"
        return
    if event.status == "sent":
        row.sent_at = row.sent_at or when
    elif event.status == "delivered":
        row.delivered_at = when
    elif event.status == "read":
        row.read_at = when
    if event.status in _STATUS_RANK and (
        row.status == "failed"
        or _STATUS_RANK[event.status] > _STATUS_RANK.get(row.status, 0)
    ):
        if row.status != "failed" or event.status in ("delivered", "read"):
            row.status = event.status


def record_status(
    session: Session,
    wamid: str,
    status: str,
    *,
    recipient_id: str | None = None,
    occurred_at: dt.datetime | None = None,
    error_code: int | None = None,
    error_title: str | None = None,
) -> bool:
    """Record a status webhook; update the outbound message it belongs to.

    Returns:
        False when this (wamid, status) was already recorded (a Meta retry).
    """
    exists = session.scalar(
        select(WaStatusEvent.id).where(
            WaStatusEvent.wamid == wamid, WaStatusEvent.status == status
        )
    )
    if exists:
        return False
    event = WaStatusEvent(
        wamid=wamid,
        status=status,
        recipient_id=recipient_id,
        error_code=error_code,
        error_title=error_title,
        occurred_at=occurred_at,
        received_at=utcnow(),
    )
    session.add(event)
    row = session.scalars(select(WaOutbound).where(WaOutbound.wamid == wamid)).first()
    if row is not None:
        _apply_event(row, event)
    session.flush()
    return True


# Marking a reply sent happens for every reply: its two statements are built
# once, and the row is no longer loaded (0.69 → 0.19 ms).
_STATUSES_OF = (
    select(WaStatusEvent)
    .where(WaStatusEvent.wamid == bindparam("sent_wamid"))
    .order_by(WaStatusEvent.id)
)
_MARK_SENT = (
    update(WaOutbound.__table__)
    .where(WaOutbound.__table__.c.id == bindparam("outbound_id"))
    .values(
        status="sent",
        wamid=bindparam("sent_wamid"),
        attempts=bindparam("sent_attempts"),
        sent_at=bindparam("sent_time"),
    )
)


def _mark_sent(outbound_id: int, wamid: str | None, attempts: int):
    def mark(session: Session) -> None:
        raced = (
            session.scalars(_STATUSES_OF, {"sent_wamid": wamid}).all() if wamid else []
        )
        if not raced:  # as a rule: one UPDATE, no row loaded
            session.execute(
                _MARK_SENT,
                {
                    "outbound_id": outbound_id,
                    "sent_wamid": wamid,
                    "sent_attempts": attempts,
                    "sent_time": utcnow(),
                },
            )
            return
        # Statuses that raced ahead of Meta's answer to the send.
        row = session.get(WaOutbound, outbound_id)
        row.status, row.wamid, row.attempts = "sent", wamid, attempts
        row.sent_at = utcnow()
        for event in raced:
            _apply_event(row, event)

    return mark


def _mark_failed(outbound_id: int, attempts: int, code: int | None, title: str):
    def mark(session: Session) -> None:
        row = session.get(WaOutbound, outbound_id)
        row.status = "failed"
        row.attempts = attempts
        row.error_code = code
        row.error_title = title[:500]
        row.failed_at = utcnow()

    return mark


# ------------------------------------------------------------------------ sending

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, list]] = (
    weakref.WeakKeyDictionary()
)


class _RecipientLock:
    """A FIFO lock per recipient, dropped when nobody holds or waits for it."""

    def __init__(self, to: str) -> None:
        self.to = to
        self.table = _locks.setdefault(asyncio.get_running_loop(), {})

    async def __aenter__(self) -> None:
        entry = self.table.setdefault(self.to, [asyncio.Lock(), 0])
        entry[1] += 1
        self.entry = entry
        await entry[0].acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.entry[0].release()
        self.entry[1] -= 1
        if self.entry[1] == 0:
            self.table.pop(self.to, None)


def mask(sender_id: str) -> str:
    """A phone number / wa_id safe for logs: only its last 4 digits."""
    return "…" + sender_id[-4:] if sender_id else "?"


async def _deliver_one(to: str, item: Outgoing, author: str) -> SendResult:
    # Stored before sending, in this thread: a hop to a worker thread would let
    # other citizens' turns run first and delay every reply under load.
    outbound_id = _now_in_db(_store(to, item, author))
    body = {"recipient_type": "individual", "to": to, **item.body}
    return await _send_stored(outbound_id, to, body)


async def _send_stored(outbound_id: int, to: str, body: dict[str, Any]) -> SendResult:
    """Send a stored message (retried), then record ``sent`` or Meta's error."""
    client = get_client()
    counter = [0]
    try:
        answer = await client.send(body, counter)
    except GraphError as exc:
        logger.error(
            "send to %s failed: status=%s code=%s", mask(to), exc.status, exc.code
        )
        await _in_db(_mark_failed(outbound_id, counter[0], exc.code, str(exc.title)))
        return SendResult(outbound_id, "failed", error_code=exc.code)
    except Exception as exc:  # noqa: BLE001 - network errors after retries
        logger.error("send to %s failed: %s", mask(to), type(exc).__name__)
        await _in_db(_mark_failed(outbound_id, counter[0], None, repr(exc)))
        return SendResult(outbound_id, "failed")
    wamid = None
    try:
        wamid = answer["messages"][0]["id"]
    except (KeyError, IndexError, TypeError):
        logger.warning("send answer without a message id")
    await _in_db(_mark_sent(outbound_id, wamid, counter[0]))
    return SendResult(outbound_id, "sent", wamid=wamid)


def send_patience(settings: GraphSettings | None = None) -> dt.timedelta:
    """How long after its sender took it a message may still be ``pending``.

    Twice the longest a send can take with all its retries (every attempt
    timing out after the longest backoff), and half a minute more: a message
    still pending after that was left by a process that died between storing
    it and hearing Meta's answer.
    """
    s = settings or GraphSettings.from_env()
    longest = max(1, s.attempts) * (s.timeout + s.backoff_max + s.backoff_initial)
    return dt.timedelta(seconds=2 * longest + 30)


async def resend_abandoned(now: dt.datetime | None = None) -> list[SendResult]:
    """Send the messages that a process stored and then died before sending.

    Each is taken atomically (its ``claimed_at`` moved on), so two replicas
    sweeping at once never both send it; it keeps its place in the transcript.
    Delivery is at least once: a sender that died after Meta accepted the
    message but before recording it leaves a message that is sent again.
    """
    cutoff = (now or utcnow()) - send_patience()
    table = WaOutbound.__table__
    taken_at = func.coalesce(table.c.claimed_at, table.c.created_at)

    def take(session: Session) -> list[tuple[int, str, dict[str, Any]]]:
        rows = session.execute(
            select(table.c.id, table.c.recipient_id, table.c.body)
            .where(table.c.status == "pending", taken_at < cutoff)
            .order_by(table.c.id)
            .limit(RESEND_BATCH)
        ).all()
        taken = []
        for row in rows:
            result = session.execute(
                update(table)
                .where(table.c.id == row.id, table.c.status == "pending")
                .where(taken_at < cutoff)
                .values(claimed_at=utcnow())
            )
            if result.rowcount == 1:
                taken.append((row.id, row.recipient_id, row.body))
        return taken

    results = []
    for outbound_id, to, body in await _in_db(take):
        logger.warning("sending message %s to %s left pending", outbound_id, mask(to))
        async with _RecipientLock(to):
            results.append(await _send_stored(outbound_id, to, body))
    return results


async def deliver(
    to: str, items: Sequence[Outgoing], author: str = "bot"
) -> list[SendResult]:
    """Store and send ``items`` to ``to`` in order (after earlier calls for ``to``).

    A part that fails permanently is recorded; the following parts are still
    tried (each stands on its own for the citizen).
    """
    results = []
    async with _RecipientLock(to):
        for item in items:
            results.append(await _deliver_one(to, item, author))
    return results


async def send_text(to: str, text: str, *, author: str = "bot") -> list[SendResult]:
    """Send free text (split at 4096 characters), stored before sending."""
    return await deliver(to, plan_text(text), author)


async def send_buttons(
    to: str, text: str, buttons: Sequence[dict[str, Any]], *, author: str = "bot"
) -> list[SendResult]:
    """Send text with Rasa-style buttons (``title``/``payload``)."""
    return await deliver(to, plan_buttons(text, buttons), author)


async def send_image(
    to: str, url: str, caption: str | None = None, *, author: str = "bot"
) -> list[SendResult]:
    """Send an image by link."""
    image: dict[str, Any] = {"link": url}
    if caption:
        image["caption"] = shorten(caption, BODY_LIMIT)
    item = Outgoing("image", {"type": "image", "image": image}, caption or url)
    return await deliver(to, [item], author)


async def send_document(
    to: str, url: str, filename: str | None = None, *, author: str = "bot"
) -> list[SendResult]:
    """Send a document by link."""
    document: dict[str, Any] = {"link": url}
    if filename:
        document["filename"] = filename
    item = Outgoing("document", {"type": "document", "document": document}, url)
    return await deliver(to, [item], author)


async def send_body(
    to: str, body: dict[str, Any], *, author: str = "bot"
) -> list[SendResult]:
    """Send a ready Cloud API body (``type`` and its object)."""
    body = {k: v for k, v in body.items() if k not in ("to", "messaging_product")}
    item = Outgoing(str(body.get("type", "custom")), body, None)
    return await deliver(to, [item], author)


async def send_template(
    to: str,
    name: str,
    language: str,
    params: Sequence[str] = (),
    *,
    author: str = "system",
) -> list[SendResult]:
    """Send an approved template with body parameters."""
    return await deliver(to, [plan_template(name, language, params)], author)


def template_settings() -> tuple[str, str]:
    """The status-update template's name and language (env, with defaults)."""
    return (
        os.environ.get("WHATSAPP_TEMPLATE_UPDATE", "lapor_update"),
        os.environ.get("WHATSAPP_TEMPLATE_LANGUAGE", "id"),
    )


def window_open(
    session: Session, sender_id: str, now: dt.datetime | None = None
) -> bool:
    """Whether free text may still reach ``sender_id`` (24-hour window)."""
    conversation = session.get(Conversation, sender_id)
    last = as_utc(conversation.last_citizen_message_at) if conversation else None
    if last is None:
        return False
    return (now or utcnow()) - last < WINDOW - WINDOW_MARGIN


async def send_update(
    to: str,
    text: str,
    template_params: Sequence[str],
    *,
    template: str | None = None,
    language: str | None = None,
    author: str = "system",
) -> list[SendResult]:
    """A message that must reach the citizen (e.g. a status change).

    Inside the 24-hour window it goes as free text; outside it (or when Meta
    refuses the free text with 131047) as the approved template.
    """
    default_name, default_language = template_settings()
    name, lang = template or default_name, language or default_language
    if await _in_db(lambda s: window_open(s, to)):
        results = await send_text(to, text, author=author)
        if not any(r.error_code == REENGAGEMENT_ERROR for r in results):
            return results
        logger.info("window closed for %s (131047): sending the template", mask(to))
    return await send_template(to, name, lang, template_params, author=author)


# -------------------------------------------------------------------------- menus


def resolve_menu_choice(session: Session, sender_id: str, text: str) -> str | None:
    """The payload a reply of just a number stands for, if a numbered menu is open.

    The menu is used up by a valid choice; it lapses after a few hours.
    """
    choice = text.strip().rstrip(".")
    if not choice.isdigit():
        return None
    menu = session.get(WaMenu, sender_id)
    if menu is None:
        return None
    created = as_utc(menu.created_at)
    if created is not None and utcnow() - created > MENU_TTL:
        session.delete(menu)
        return None
    index = int(choice)
    if not 1 <= index <= len(menu.payloads):
        return None
    payload = menu.payloads[index - 1]
    session.delete(menu)
    return payload
