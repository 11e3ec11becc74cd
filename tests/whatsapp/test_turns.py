"""The turn workers' parent side: how many, and which citizen goes where.

The processes themselves are exercised end to end in tests/test_e2e_whatsapp.py
(a worker killed, replaced, its messages answered).
"""

from __future__ import annotations

import queue

import pytest

from lapor.whatsapp.inbound import InboundMessage, Shard
from lapor.whatsapp.turns import DEFAULT_WORKERS, TurnWorkers, worker_count


def test_worker_count_from_the_environment():
    assert worker_count({}) == DEFAULT_WORKERS == 2
    assert worker_count({"WHATSAPP_TURN_WORKERS": " 3 "}) == 3
    assert worker_count({"WHATSAPP_TURN_WORKERS": ""}) == DEFAULT_WORKERS
    for wrong in ("0", "-1", "dua", "1.5"):
        with pytest.raises(ValueError, match="WHATSAPP_TURN_WORKERS"):
            worker_count({"WHATSAPP_TURN_WORKERS": wrong})


def _message(sender: str, n: int) -> InboundMessage:
    return InboundMessage(
        wamid=f"wamid.{sender}.{n}",
        sender_id=sender,
        msg_type="text",
        timestamp=None,
        payload={"type": "text", "text": {"body": str(n)}},
    )


def test_each_citizens_messages_go_to_one_worker_in_order():
    workers = TurnWorkers("model.tar.gz", "endpoints.yml", 3)
    for worker in workers.workers:  # the queues only, no processes
        worker._queue = queue.Queue()
    senders = [f"6285{n:09d}" for n in range(30)]
    batch = [_message(sender, n) for n in range(3) for sender in senders]
    workers.submit(batch[:45])
    workers.submit(batch[45:])

    received: dict[int, list[InboundMessage]] = {}
    for index, worker in enumerate(workers.workers):
        while not worker._queue.empty():
            received.setdefault(index, []).extend(worker._queue.get())
    assert sorted(received) == [0, 1, 2]  # 30 citizens reach every worker
    for index, messages in received.items():
        assert all(Shard.of(m.sender_id, 3) == index for m in messages)
    for sender in senders:
        [index] = {
            i for i, ms in received.items() if any(m.sender_id == sender for m in ms)
        }
        mine = [m.wamid for m in received[index] if m.sender_id == sender]
        assert mine == [f"wamid.{sender}.{n}" for n in range(3)]
