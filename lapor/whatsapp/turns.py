"""The bot's WhatsApp turns, in a worker process beside the Rasa server.

Why a process: Rasa works a turn (NLU, policies, tracker store) in Python
stretches of several milliseconds, and one process runs Python one thread at
a time. With the turns in the Rasa server's own process, Meta's next webhook
waited behind other citizens' turns before it was answered. Here the Rasa
server's process only checks, stores and acknowledges webhooks
(:meth:`lapor.whatsapp.inbound.WebhookProcessor.handle_post`), and hands the
stored messages to this worker, which loads its own agent (same model, same
endpoints file: tracker store, lock store, action server) and works the turns
in order per citizen.

Nothing depends on the hand-over for safety: every message is in
``wa_inbound`` before the 200, and a worker that starts (or restarts after a
crash) first takes every message still waiting there.

Parent side: :class:`TurnWorker` (start, feed, watch, stop). Child side:
:func:`worker_main`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from typing import Any

from lapor.whatsapp.inbound import InboundMessage

logger = logging.getLogger(__name__)

# Restart a worker that died, but not more often than this.
RESTART_INTERVAL_SECONDS = 10.0


def endpoints_path(argv: list[str]) -> str:
    """The endpoints file the Rasa server was started with (``--endpoints``,
    else Rasa's default): Rasa does not keep the path, the worker needs it."""
    from rasa.shared.constants import DEFAULT_ENDPOINTS_PATH

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--endpoints", default=DEFAULT_ENDPOINTS_PATH)
    known, _rest = parser.parse_known_args(argv)
    return os.path.abspath(known.endpoints)


class TurnWorker:
    """The Rasa server's handle on its turn worker process."""

    def __init__(self, model_path: str, endpoints_path: str) -> None:
        self.model_path = model_path
        self.endpoints_path = endpoints_path
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._queue: Any = None
        self._ready: Any = None
        self._started_at = 0.0
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start a worker (a fresh queue: a dead worker's queue is dropped, its
        messages are taken from the database by the new one)."""
        self._queue = self._context.Queue()
        self._ready = self._context.Event()
        self._process = self._context.Process(
            target=worker_main,
            args=(
                self._queue,
                self._ready,
                self.model_path,
                self.endpoints_path,
                os.getpid(),
            ),
            name="whatsapp-turns",
        )
        self._process.start()
        self._started_at = time.monotonic()
        logger.info("WhatsApp turn worker started (pid %s)", self._process.pid)

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def is_ready(self) -> bool:
        """True once the worker has loaded its model and is taking messages."""
        return self.is_alive() and self._ready.is_set()

    def submit(self, messages: list[InboundMessage]) -> None:
        """Hand stored messages over (never blocks: the queue has a feeder thread)."""
        if self._queue is not None:
            self._queue.put(messages)

    def ensure_running(self) -> bool:
        """Restart a worker that died; True when one was started."""
        if self._process is None or self._process.is_alive():
            return False
        if time.monotonic() - self._started_at < RESTART_INTERVAL_SECONDS:
            return False
        logger.error(
            "WhatsApp turn worker exited (code %s); starting a new one",
            self._process.exitcode,
        )
        self.restarts += 1
        self.start()
        return True

    async def supervise(self) -> None:
        """Restart the worker whenever it dies (its messages wait in the database)."""
        while True:
            await asyncio.sleep(1)
            self.ensure_running()

    def stop(self, timeout: float = 15.0) -> None:
        """Let the worker finish the messages it holds, then end it."""
        if self._process is None:
            return
        if self._process.is_alive():
            self._queue.put(None)
            self._process.join(timeout)
        if self._process.is_alive():
            logger.warning("turn worker did not stop in %.0f s; terminating", timeout)
            self._process.terminate()
            self._process.join(5)
        self._queue.close()
        self._queue.join_thread()


# ------------------------------------------------------------------ child side


def worker_main(
    messages: Any,
    ready: Any,
    model_path: str,
    endpoints_path: str,
    parent_pid: int,
) -> None:
    """Entry point of the worker process."""
    # Ctrl-C reaches the whole process group; the Rasa server stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-8s %(name)s [turns]  - %(message)s",
    )
    from lapor import rasa_server

    rasa_server.apply()
    asyncio.run(_work(messages, ready, model_path, endpoints_path, parent_pid))


async def _work(
    messages: Any,
    ready: Any,
    model_path: str,
    endpoints_path: str,
    parent_pid: int,
) -> None:
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints

    from channels.whatsapp import turn_saved, user_message
    from lapor import rasa_server
    from lapor.whatsapp.graph import close_client
    from lapor.whatsapp.inbound import BotMessage, WebhookProcessor

    endpoints = AvailableEndpoints.read_endpoints(endpoints_path)
    agent = await load_agent(model_path=model_path, endpoints=endpoints)
    if not agent.is_ready():
        raise RuntimeError(f"no model could be loaded from {model_path}")
    # The model is loaded: keep its objects out of the collector's full passes.
    gc.collect()
    gc.freeze()

    async def to_bot(message: BotMessage) -> None:
        if message.resumed and await turn_saved(agent.tracker_store, message):
            return
        await agent.handle_message(user_message(message))

    processor = WebhookProcessor(to_bot, app_secret="")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    # Everything stored and not yet worked on, before anything new: a message
    # may be in both, and the claim in the database lets only one run it.
    # Claims of a worker that died are taken at once; then the sweep, first
    # right away, resends the replies a dead process stored and never sent.
    recovered = await processor.recover()
    logger.info("turn worker ready (%d waiting messages taken over)", recovered)
    sweep = asyncio.ensure_future(processor.sweep_forever(first_after=0.0))

    def read() -> None:
        while not stop.is_set():
            try:
                item = messages.get(timeout=1.0)
            except queue_module.Empty:
                if os.getppid() != parent_pid:  # the Rasa server is gone
                    item = None
                else:
                    continue
            except (EOFError, OSError):
                item = None
            if item is None:
                loop.call_soon_threadsafe(stop.set)
                return
            loop.call_soon_threadsafe(processor.enqueue_all, item)

    threading.Thread(target=read, name="turns-reader", daemon=True).start()
    ready.set()
    await stop.wait()
    sweep.cancel()
    try:
        await processor.wait_idle(timeout=10)
    except asyncio.TimeoutError:
        logger.warning("stopping with messages in progress (taken over later)")
    await close_client()
    await rasa_server.close_endpoint_sessions()
