"""Start the real Rasa server and action server for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "lapor.tar.gz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not start in {timeout}s:\n{log.read_text()[-4000:]}")


def turn_worker_pids(rasa: str) -> list[int]:
    """The pids of a Rasa server's WhatsApp turn workers (lapor.whatsapp.turns),
    in shard order, as its health route tells them once all are ready."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        health = requests.get(f"{rasa}/webhooks/whatsapp/", timeout=5).json()
        if health.get("turns") == "ready":
            return [int(pid) for pid in health["turn_workers"]]
        time.sleep(0.5)
    raise RuntimeError(f"the turn workers of {rasa} are not ready: {health}")


@contextmanager
def running_bot(workdir: Path, env_extra: dict[str, str]) -> Iterator[dict[str, str]]:
    """Action server + Rasa server (REST, WhatsApp, HTTP API) on free ports."""
    if not MODEL.exists():
        raise RuntimeError("no trained model: run `make model` first")
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    # The repository's own endpoints.yml, pointed at this run's ports and files.
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    config["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    config["tracker_store"]["url"] = f"sqlite:///{workdir / 'tracker.db'}"
    endpoints.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        **env_extra,
        "PYTHONUNBUFFERED": "1",
    }
    logs = {name: workdir / f"{name}.log" for name in ("actions", "rasa")}
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/python"),
                    "-m",
                    "lapor.action_server",
                    "--port",
                    str(action_port),
                    "--actions",
                    "actions",
                ],
                cwd=ROOT,
                env=env,
                stdout=logs["actions"].open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/python"),
                    "-m",
                    "lapor.rasa_server",
                    "run",
                    "--enable-api",
                    "--auth-token",
                    env.get("RASA_TOKEN", "test-token"),
                    "--port",
                    str(rasa_port),
                    "--model",
                    str(MODEL),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    str(ROOT / "credentials.yml"),
                ],
                cwd=ROOT,
                env=env,
                stdout=logs["rasa"].open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_for(
            f"http://127.0.0.1:{action_port}/health", 120, procs[0], logs["actions"]
        )
        wait_for(
            f"http://127.0.0.1:{rasa_port}/status?token=x", 240, procs[1], logs["rasa"]
        )
        # /status answers before the model is loaded; wait for a real reply.
        base = f"http://127.0.0.1:{rasa_port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            reply = requests.post(
                f"{base}/model/parse?token={env.get('RASA_TOKEN', 'test-token')}",
                json={"text": "halo"},
                timeout=30,
            )
            if reply.status_code == 200:
                break
            time.sleep(1)
        # The WhatsApp turn worker loads its own copy of the model.
        while time.monotonic() < deadline:
            health = requests.get(f"{base}/webhooks/whatsapp/", timeout=5).json()
            if health.get("turns") != "starting":
                break
            time.sleep(0.5)
        yield {
            "rasa": base,
            "actions": f"http://127.0.0.1:{action_port}",
            "logs": str(workdir),
            "rasa_pid": str(procs[1].pid),
            "actions_pid": str(procs[0].pid),
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def running_fake_graph(workdir: Path, token: str | None = None) -> Iterator[str]:
    """The fake Graph API as its own process on a free port; yields its base URL."""
    port = free_port()
    log = workdir / "fake_graph.log"
    command = [str(ROOT / ".venv/bin/python"), "-m", "lapor.whatsapp.fake_graph"]
    command += ["--port", str(port)] + (["--token", token] if token else [])
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/_fake/messages", 30, proc, log)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
