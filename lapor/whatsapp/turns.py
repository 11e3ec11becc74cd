"""The bot's WhatsApp turns, in worker processes beside the Rasa server.

Why processes: Rasa works a turn (NLU, policies, tracker store) in Python
stretches of several milliseconds, and one process runs Python one thread at
a time. With the turns in the Rasa server's own process, Meta's next webhook
waited behind other citizens' turns before it was answered. Here the Rasa
server's process only checks, stores and acknowledges webhooks
(:meth:`lapor.whatsapp.inbound.WebhookProcessor.handle_post`), and hands the
stored messages to the turn workers, each of which loads its own agent (same
model, same endpoints file: tracker store, lock store, action server).

Why several: one worker works one turn at a time (15-30 ms of CPU each
here, by the day's machine speed), so under load a reply waits behind the
turns queued before it. Each citizen belongs to one worker
(:class:`lapor.whatsapp.inbound.Shard`), so a citizen's messages still run in
order, in one process. ``WHATSAPP_TURN_WORKERS`` sets how many (default 2);
each costs about 560 MB of memory.

Why a lower CPU priority (``nice`` +5): Meta wants its webhook answered at
once, while a reply may take a few milliseconds more; on a busy machine the
kernel then gives the CPU to the server's answer before a turn.

Nothing depends on the hand-over for safety: every message is in
``wa_inbound`` before the 200, and a worker that starts (or restarts after a
crash) first takes every message still waiting there.

Parent side: :class:`TurnWorkers` (start, feed, watch, stop), one
:class:`TurnWorker` per process. Child side: :func:`worker_main`.
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
from dataclasses import dataclass
from typing import Any

from lapor.whatsapp.inbound import InboundMessage, Shard

logger = logging.getLogger(__name__)

# Restart a worker that died, but not more often than this.
RESTART_INTERVAL_SECONDS = 10.0
# How many turn workers when WHATSAPP_TURN_WORKERS is not set.
DEFAULT_WORKERS = 2
# Added to each worker's niceness: on a busy CPU the webhook answers go first.
WORKER_NICENESS = 5


def endpoints_path(argv: list[str]) -> str:
    """The endpoints file the Rasa server was started with (``--endpoints``,
    else Rasa's default): Rasa does not keep the path, the worker needs it."""
    from rasa.shared.constants import DEFAULT_ENDPOINTS_PATH

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--endpoints", default=DEFAULT_ENDPOINTS_PATH)
    known, _rest = parser.parse_known_args(argv)
    return os.path.abspath(known.endpoints)


def worker_count(environ: Any = os.environ) -> int:
    """``WHATSAPP_TURN_WORKERS`` (at least 1), else :data:`DEFAULT_WORKERS`."""
    raw = str(environ.get("WHATSAPP_TURN_WORKERS", "")).strip()
    if not raw:
        return DEFAULT_WORKERS
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(
            f"WHATSAPP_TURN_WORKERS must be a whole number, not {raw!r}"
        ) from None
    if count < 1:
        raise ValueError("WHATSAPP_TURN_WORKERS must be at least 1")
    return count


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process is started with (pickled over to it)."""

    model_path: str
    endpoints_path: str
    shard: Shard
    parent_pid: int  # the Rasa server's: the worker exits when it is gone


class TurnWorker:
    """The Rasa server's handle on one turn worker process."""

    def __init__(self, model_path: str, endpoints_path: str, shard: Shard) -> None:
        self.spec = WorkerSpec(model_path, endpoints_path, shard, os.getpid())
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._queue: Any = None
        self._ready: Any = None
        self._started_at = 0.0
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start a worker (a fresh queue: a dead worker's queue is dropped, its
        messages are taken from the database by the new one)."""
        self._queue = self._context.Queue()
        self._ready = self._context.Event()
        self._stopping = False
        self._process = self._context.Process(
            target=worker_main,
            args=(self._queue, self._ready, self.spec),
            name=f"whatsapp-turns-{self.spec.shard.index}",
        )
        self._process.start()
        self._started_at = time.monotonic()
        logger.info(
            "WhatsApp turn worker %d/%d started (pid %s)",
            self.spec.shard.index + 1,
            self.spec.shard.count,
            self._process.pid,
        )

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
            "WhatsApp turn worker %d exited (code %s); starting a new one",
            self.spec.shard.index + 1,
            self._process.exitcode,
        )
        self.restarts += 1
        self.start()
        return True

    def ask_to_stop(self) -> None:
        """Tell the worker to finish the messages it holds and exit."""
        if self.is_alive() and not self._stopping:
            self._stopping = True
            self._queue.put(None)

    def stop(self, timeout: float = 15.0) -> None:
        """Let the worker finish the messages it holds, then end it."""
        if self._process is None:
            return
        self.ask_to_stop()
        self._process.join(timeout)
        if self._process.is_alive():
            logger.warning("turn worker did not stop in %.0f s; terminating", timeout)
            self._process.terminate()
            self._process.join(5)
        self._queue.close()
        self._queue.join_thread()


class TurnWorkers:
    """The Rasa server's turn workers: each citizen's messages go to one."""

    def __init__(self, model_path: str, endpoints_path: str, count: int) -> None:
        self.workers = [
            TurnWorker(model_path, endpoints_path, Shard(index, count))
            for index in range(count)
        ]

    @property
    def pids(self) -> list[int | None]:
        return [worker.pid for worker in self.workers]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def is_ready(self) -> bool:
        """True once every worker has loaded its model and takes messages."""
        return all(worker.is_ready() for worker in self.workers)

    def submit(self, messages: list[InboundMessage]) -> None:
        """Hand each stored message to its citizen's worker (never blocks)."""
        count = len(self.workers)
        parts: dict[int, list[InboundMessage]] = {}
        for msg in messages:
            parts.setdefault(Shard.of(msg.sender_id, count), []).append(msg)
        for index, part in parts.items():
            self.workers[index].submit(part)

    async def supervise(self) -> None:
        """Restart a worker whenever it dies (its messages wait in the database)."""
        while True:
            await asyncio.sleep(1)
            for worker in self.workers:
                worker.ensure_running()

    def stop(self, timeout: float = 15.0) -> None:
        """Let every worker finish the messages it holds, then end them."""
        for worker in self.workers:
            worker.ask_to_stop()  # all finish at once, then each is waited for
        for worker in self.workers:
            worker.stop(timeout)


# ------------------------------------------------------------------ child side


def worker_main(messages: Any, ready: Any, spec: WorkerSpec) -> None:
    """Entry point of a worker process."""
    # Ctrl-C reaches the whole process group; the Rasa server stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-8s %(name)s [turns]  - %(message)s",
    )
    from lapor import rasa_server

    rasa_server.apply()
    asyncio.run(_work(messages, ready, spec))


async def _work(messages: Any, ready: Any, spec: WorkerSpec) -> None:
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints

    from channels.whatsapp import turn_saved, user_message
    from lapor import rasa_server
    from lapor.whatsapp.graph import close_client
    from lapor.whatsapp.inbound import BotMessage, WebhookProcessor

    endpoints = AvailableEndpoints.read_endpoints(spec.endpoints_path)
    agent = await load_agent(model_path=spec.model_path, endpoints=endpoints)
    if not agent.is_ready():
        raise RuntimeError(f"no model could be loaded from {spec.model_path}")
    # The model is loaded: keep its objects out of the collector's full passes.
    gc.collect()
    gc.freeze()

    async def to_bot(message: BotMessage) -> None:
        if await turn_saved(agent.tracker_store, message):
            return
        await agent.handle_message(user_message(message))

    processor = WebhookProcessor(to_bot, app_secret="", shard=spec.shard)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    # Everything stored and not yet worked on, before anything new: a message
    # may be in both, and the claim in the database lets only one run it.
    # Claims of a worker that died are taken at once; then the sweep, first
    # right away, resends the replies a dead process stored and never sent.
    recovered = await processor.recover()
    logger.info(
        "turn worker %d/%d ready (%d waiting messages taken over)",
        spec.shard.index + 1,
        spec.shard.count,
        recovered,
    )
    sweep = asyncio.ensure_future(processor.sweep_forever(first_after=0.0))

    def read() -> None:
        while not stop.is_set():
            try:
                item = messages.get(timeout=1.0)
            except queue_module.Empty:
                if os.getppid() != spec.parent_pid:  # the Rasa server is gone
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
