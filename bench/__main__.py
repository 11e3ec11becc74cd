"""Print the benchmark figures of the intake bot.

    python -m bench              # everything
    python -m bench kategori lokasi latency   # some sections

Sections: training, crossval, intents, kategori, lokasi, latency, whatsapp. Results are
also written to bench/out/results.json.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
RASA = str(ROOT / ".venv" / "bin" / "rasa")
MODEL = ROOT / "models" / "lapor.tar.gz"


def _items(name: str) -> list[dict]:
    return yaml.safe_load((DATA / name).read_text())["items"]


def bench_training() -> dict:
    """Wall time of a full training from scratch (no cache), on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RASA_CACHE_DIRECTORY": str(Path(tmp) / "cache")}
        start = time.perf_counter()
        subprocess.run(
            [
                RASA,
                "train",
                "--out",
                tmp,
                "--fixed-model-name",
                "bench",
                "--quiet",
                "--force",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
    print(f"training time (from scratch, {os.cpu_count()} cores): {seconds:.0f} s")
    return {"training_seconds": round(seconds, 1)}


def bench_crossval(folds: int = 5) -> dict:
    """Intent macro-F1 and entity F1 from k-fold cross-validation of the NLU data."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                RASA,
                "test",
                "nlu",
                "--nlu",
                "data/nlu",
                "--cross-validation",
                "--folds",
                str(folds),
                "--out",
                tmp,
                "--quiet",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        intent = json.loads((Path(tmp) / "intent_report.json").read_text())
        entity_file = next(Path(tmp).glob("*EntityExtractor_report.json"), None)
        entity = json.loads(entity_file.read_text()) if entity_file else {}
    macro = intent["macro avg"]["f1-score"]
    worst = sorted(
        (v["f1-score"], k)
        for k, v in intent.items()
        if isinstance(v, dict)
        and "support" in v
        and k not in ("macro avg", "weighted avg", "micro avg")
    )[:3]
    entity_f1 = entity.get("micro avg", entity.get("weighted avg", {})).get("f1-score")
    print(
        f"NLU {folds}-fold cross-validation: intent macro-F1 {macro:.3f}; "
        f"entity F1 {entity_f1 if entity_f1 is None else round(entity_f1, 3)}; "
        f"weakest intents: " + ", ".join(f"{k} {f:.2f}" for f, k in worst)
    )
    return {"intent_macro_f1": round(macro, 4), "entity_f1": entity_f1}


def bench_intents() -> dict:
    """Intent accuracy on the held-out messages (bench/data/intents.yml)."""
    import asyncio
    import logging

    from rasa.core.agent import Agent

    logging.disable(logging.INFO)
    agent = Agent.load(str(MODEL))
    items = _items("intents.yml")
    wrong = []
    for item in items:
        parsed = asyncio.run(agent.parse_message(item["text"]))
        if parsed["intent"]["name"] != item["intent"]:
            wrong.append((item["text"], item["intent"], parsed["intent"]["name"]))
    labels = sorted({i["intent"] for i in items})
    f1s = []
    for label in labels:
        tp = sum(1 for i in items if i["intent"] == label) - sum(
            1 for w in wrong if w[1] == label
        )
        fp = sum(1 for w in wrong if w[2] == label)
        fn = sum(1 for w in wrong if w[1] == label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(
            2 * precision * recall / (precision + recall) if precision + recall else 0.0
        )
    accuracy = 1 - len(wrong) / len(items)
    print(
        f"held-out intents ({len(items)} messages): accuracy {accuracy:.3f}, "
        f"macro-F1 {statistics.mean(f1s):.3f}"
    )
    for text, want, got in wrong[:8]:
        print(f"   miss: {text!r} expected {want}, got {got}")
    return {
        "heldout_intent_accuracy": round(accuracy, 4),
        "heldout_intent_macro_f1": round(statistics.mean(f1s), 4),
    }


def bench_kategori() -> dict:
    """Category accuracy on held-out complaint messages (bench/data/kategori.yml)."""
    from lapor.kategori import infer_kategori

    items = _items("kategori.yml")
    results = [(i, infer_kategori(i["text"]).kategori) for i in items]
    correct = sum(1 for i, got in results if got == i["kategori"])
    unsure = sum(1 for _, got in results if got is None)
    print(
        f"category accuracy ({len(items)} held-out messages): {correct / len(items):.3f} "
        f"({correct} right, {unsure} unsure -> the bot asks with buttons, "
        f"{len(items) - correct - unsure} wrong)"
    )
    return {
        "kategori_accuracy": round(correct / len(items), 4),
        "kategori_unsure": unsure,
        "kategori_n": len(items),
    }


def _location_ok(item: dict, match) -> bool:
    expect = item["expect"]
    if match.status != expect["status"]:
        return False
    if expect["status"] == "ok":
        return (match.desa.code, match.desa.kecamatan_code) == (
            expect["desa"],
            expect["kecamatan"],
        )
    if expect["status"] == "kecamatan_only":
        return match.kecamatan.code == expect["kecamatan"]
    if expect["status"] == "ambiguous":
        return sorted(p.code for p in match.candidates) == sorted(expect["candidates"])
    return True


def bench_lokasi() -> dict:
    """Location accuracy on held-out place mentions (bench/data/lokasi.yml)."""
    from lapor import wilayah

    items = _items("lokasi.yml")
    misses = []
    for item in items:
        match = wilayah.resolve(item["text"], item.get("context_kecamatan"))
        if not _location_ok(item, match):
            misses.append((item["text"], item["expect"]["status"], match.status))
    accuracy = 1 - len(misses) / len(items)
    print(f"location accuracy ({len(items)} held-out place mentions): {accuracy:.3f}")
    for text, want, got in misses[:8]:
        print(f"   miss: {text!r} expected {want}, got {got}")
    return {"lokasi_accuracy": round(accuracy, 4), "lokasi_n": len(items)}


def _long_conversation() -> list[str]:
    """110 turns of one citizen: complaints, status checks, small talk."""
    cycle = [
        "halo min",
        "jalan di ds sumberanyar kec paiton rusak parah, banyak lubang, sdh 3 bulan",
        "Budi Santoso",
        '/pilih{"konfirmasi":"kirim"}',
        "laporan saya",
        "mau lapor",
        '/pilih{"kategori":"kesehatan"}',
        "ds kalikajar kulon kec paiton",
        "puskesmas pembantu tutup terus sejak sebulan, warga harus ke kecamatan",
        "anonim",
        '/pilih{"konfirmasi":"kirim"}',
        "makasih",
    ]
    turns: list[str] = []
    while len(turns) < 110:
        turns.extend(cycle)
    return turns[:110]


def pct(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_latency() -> dict:
    """Per-turn latency at turns 1-10 and 100-110 of one long conversation."""
    import requests

    sys.path.insert(0, str(ROOT))
    from lapor import db
    from tests.servers import running_bot, turn_worker_pids

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lapor.db'}"
        db.migrate(url)
        with running_bot(
            Path(tmp), {"DATABASE_URL": url, "RASA_TOKEN": "bench"}
        ) as servers:
            sender = "62813" + uuid.uuid4().hex[:8]
            timings = []
            for text in _long_conversation():
                start = time.perf_counter()
                reply = requests.post(
                    f"{servers['rasa']}/webhooks/rest/webhook",
                    json={"sender": sender, "message": text},
                    timeout=60,
                )
                timings.append((time.perf_counter() - start) * 1000)
                reply.raise_for_status()
            rasa_pid = int(servers["rasa_pid"])
            rss = _rss_mb(rasa_pid)
            workers_rss = [_rss_mb(pid) for pid in turn_worker_pids(servers["rasa"])]

    early, late = timings[0:10], timings[99:110]
    figures = {
        "turn_1_10_p50_ms": round(pct(early, 0.5), 1),
        "turn_1_10_p95_ms": round(pct(early, 0.95), 1),
        "turn_100_110_p50_ms": round(pct(late, 0.5), 1),
        "turn_100_110_p95_ms": round(pct(late, 0.95), 1),
        "all_turns_p95_ms": round(pct(timings, 0.95), 1),
        "rasa_rss_mb": round(rss),
        "turn_workers_rss_mb": [round(value) for value in workers_rss],
    }
    print(
        f"per-turn latency (REST, one conversation of {len(timings)} turns): "
        f"turns 1-10 p50 {figures['turn_1_10_p50_ms']} ms p95 {figures['turn_1_10_p95_ms']} ms; "
        f"turns 100-110 p50 {figures['turn_100_110_p50_ms']} ms "
        f"p95 {figures['turn_100_110_p95_ms']} ms"
    )
    print(
        f"resident memory: Rasa server {figures['rasa_rss_mb']} MB, "
        f"its WhatsApp turn workers "
        + ", ".join(f"{value} MB" for value in figures["turn_workers_rss_mb"])
    )
    return figures


WA_SECRET = "bench-app-secret"
WA_TOKEN = "bench-access-token"
WA_SCRIPT = [
    "halo min",
    "jalan di ds sumberanyar kec paiton rusak parah, banyak lubang, sdh 3 bulan",
    "Rina",
    '/pilih{"konfirmasi":"kirim"}',
]


def _wa_body(wa_id: str, wamid: str, text: str) -> bytes:
    from lapor.whatsapp.fake_graph import webhook_body

    if text.startswith("/"):
        content = {
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": text, "title": "Kirim"},
            },
        }
    else:
        content = {"type": "text", "text": {"body": text}}
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        **content,
    }
    return json.dumps(webhook_body(wa_id, message)).encode()


async def _wa_load(
    rasa: str, graph: str, citizens: int, retry_share: float, think: tuple[float, float]
) -> dict:
    """Each citizen sends WA_SCRIPT turn by turn; a share of webhooks arrives twice.

    ``think`` is the pause (seconds, uniform) between reading a reply and sending
    the next message, as a person reads and types; (0, 0) sends at once.
    """
    import asyncio
    import random

    import aiohttp

    from lapor.whatsapp.inbound import sign

    rng = random.Random(42)
    acks: list[float] = []
    replies: list[float] = []
    lost = 0
    recorded: list[dict] = []
    seen: dict[str, list[dict]] = {}
    arrived: dict[str, asyncio.Event] = {}
    done = asyncio.Event()

    async with aiohttp.ClientSession() as http:

        async def fetch_new() -> list[dict]:
            # Only what is new since the last fetch, so the client stays light
            # and its own event loop does not inflate the times it measures.
            async with http.get(
                f"{graph}/_fake/messages", params={"since": len(recorded)}
            ) as resp:
                new = await resp.json()
            recorded.extend(new)
            return new

        async def poll() -> None:
            while not done.is_set():
                new = await fetch_new()
                for message in new:
                    to = message.get("to")
                    seen.setdefault(to, []).append(message)
                    if to in arrived:
                        arrived[to].set()
                await asyncio.sleep(0.01)

        async def post(body: bytes) -> float:
            start = time.perf_counter()
            async with http.post(
                f"{rasa}/webhooks/whatsapp/webhook",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(body, WA_SECRET),
                },
            ) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            return (time.perf_counter() - start) * 1000

        async def reply_to(wa_id: str, turn: int) -> dict | None:
            event = arrived.setdefault(wa_id, asyncio.Event())
            deadline = time.monotonic() + 30
            while len(seen.get(wa_id, [])) <= turn:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
            return seen[wa_id][turn]

        async def citizen(index: int) -> None:
            nonlocal lost
            wa_id = f"6285{index:09d}"
            await asyncio.sleep(rng.uniform(0, think[1]))
            for turn, text in enumerate(WA_SCRIPT):
                if turn:
                    await asyncio.sleep(rng.uniform(*think))
                body = _wa_body(
                    wa_id, f"wamid.bench.{index}.{turn}.{uuid.uuid4().hex}", text
                )
                sent_at = time.time()
                posts = [post(body)]
                if rng.random() < retry_share:  # Meta's retry, delivered concurrently
                    posts.append(post(body))
                acks.extend(await asyncio.gather(*posts))
                reply = await reply_to(wa_id, turn)
                if reply is None:
                    lost += 1
                    return
                replies.append((reply["_received_at"] - sent_at) * 1000)

        lags: list[float] = []

        async def lag_monitor() -> None:
            # How late this client's own event loop wakes up: the noise floor
            # of every time it measures.
            while not done.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append((time.perf_counter() - t - 0.005) * 1000)

        monitor = asyncio.ensure_future(lag_monitor())
        poller = asyncio.ensure_future(poll())
        await asyncio.gather(*(citizen(i) for i in range(citizens)))
        await asyncio.sleep(2)  # let late duplicates arrive before counting
        done.set()
        await poller
        await monitor
        await fetch_new()
    expected = citizens * len(WA_SCRIPT)
    bot_messages = [m for m in recorded if str(m.get("to", "")).startswith("6285")]
    return {
        "acks": acks,
        "replies": replies,
        "lost": lost,
        "duplicated": max(0, len(bot_messages) - expected + lost),
        "expected": expected,
        "client_lag_max": max(lags) if lags else 0.0,
    }


def bench_whatsapp(citizens: int = 50) -> dict:
    """50 citizens at once through signed webhooks: answer time, reply time, loss.

    Two runs: the citizens converse at once, pausing 1-3 s between messages as
    people do; then a burst where every citizen sends the next message the moment
    the reply arrives (the worst case on 2 cores).
    """
    figures: dict = {}
    for label, think in (("paced", (1.0, 3.0)), ("burst", (0.0, 0.0))):
        figures.update(_bench_whatsapp_run(citizens, label, think))
    return figures


def _bench_whatsapp_run(citizens: int, label: str, think: tuple[float, float]) -> dict:
    import asyncio

    sys.path.insert(0, str(ROOT))
    from lapor import db
    from tests.servers import running_bot, running_fake_graph, turn_worker_pids

    with tempfile.TemporaryDirectory() as tmp:
        with running_fake_graph(Path(tmp), WA_TOKEN) as graph:
            # BENCH_DATABASE_URL (an empty PostgreSQL database, say) instead of
            # the embedded default.
            url = os.environ.get("BENCH_DATABASE_URL") or (
                f"sqlite:///{Path(tmp) / 'lapor.db'}"
            )
            db.migrate(url)
            env = {
                "DATABASE_URL": url,
                "RASA_TOKEN": "bench",
                "WHATSAPP_API_URL": f"{graph}/v21.0",
                "WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
                "WHATSAPP_APP_SECRET": WA_SECRET,
                "WHATSAPP_VERIFY_TOKEN": "bench",
                "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
                "MEDIA_DIR": str(Path(tmp) / "media"),
            }
            with running_bot(Path(tmp), env) as servers:
                # The client's own garbage collections would stall its event
                # loop and count as server time; as timeit does, none run
                # while it measures.
                gc.collect()
                gc.disable()
                # CPU each of the bot's processes spends on the load: how fast
                # this machine is, next to the figures of another day's.
                pids = {
                    "server": [int(servers["rasa_pid"])],
                    "workers": turn_worker_pids(servers["rasa"]),
                    "actions": [int(servers["actions_pid"])],
                }

                def cpu_seconds(name: str) -> float:
                    return sum(_cpu_seconds(pid) for pid in pids[name])

                before = {name: cpu_seconds(name) for name in pids}
                try:
                    result = asyncio.run(
                        _wa_load(servers["rasa"], graph, citizens, 0.2, think)
                    )
                finally:
                    gc.enable()
                cpu = {name: cpu_seconds(name) - before[name] for name in pids}

    p = f"wa_{label}_"
    figures = {
        p + "webhooks": len(result["acks"]),
        p + "ack_p50_ms": round(pct(result["acks"], 0.5), 1),
        p + "ack_p99_ms": round(pct(result["acks"], 0.99), 1),
        p + "reply_p50_ms": round(pct(result["replies"], 0.5), 1),
        p + "reply_p95_ms": round(pct(result["replies"], 0.95), 1),
        p + "lost": result["lost"],
        p + "duplicated": result["duplicated"],
        p + "client_lag_max_ms": round(result["client_lag_max"], 1),
    }
    handled = max(1, result["expected"] - result["lost"])
    for name, seconds in cpu.items():
        figures[f"{p}cpu_{name}_ms_per_message"] = round(seconds * 1000 / handled, 1)
    pause = (
        f"{think[0]:.0f}-{think[1]:.0f} s between messages" if think[1] else "no pause"
    )
    print(
        f"WhatsApp, {citizens} citizens at once, {label} ({pause}; "
        f"{figures[p + 'webhooks']} signed webhooks, 20% delivered twice): "
        f"answer p50 {figures[p + 'ack_p50_ms']} ms, p99 {figures[p + 'ack_p99_ms']} ms; "
        f"webhook-to-reply p50 {figures[p + 'reply_p50_ms']} ms, "
        f"p95 {figures[p + 'reply_p95_ms']} ms; lost {figures[p + 'lost']}, "
        f"duplicated {figures[p + 'duplicated']} "
        f"(the client's own loop woke up to {figures[p + 'client_lag_max_ms']} ms late)"
    )
    print(
        "   CPU per citizen message: "
        + ", ".join(
            f"{name} {figures[f'{p}cpu_{name}_ms_per_message']} ms" for name in cpu
        )
    )
    return figures


SECTIONS = {
    "training": bench_training,
    "crossval": bench_crossval,
    "intents": bench_intents,
    "kategori": bench_kategori,
    "lokasi": bench_lokasi,
    "latency": bench_latency,
    "whatsapp": bench_whatsapp,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s): {unknown}; choose from {list(SECTIONS)}")
        return 2
    results: dict = {}
    for name in chosen:
        results.update(SECTIONS[name]())
    OUT.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (OUT / "results.json").exists():
        previous = json.loads((OUT / "results.json").read_text())
    (OUT / "results.json").write_text(json.dumps({**previous, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
