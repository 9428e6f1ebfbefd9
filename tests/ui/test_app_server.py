"""The real `streamlit run app.py` server: the lifespan starts ingestion with no browser open, the webhook
route answers beside the UI, and demo mode connects the embedded emulator."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_app(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=base_env | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("streamlit did not stop on SIGTERM")
        assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.mark.slow
def test_app_route_stores_every_signed_fixture_with_no_browser_open(database, shared_fixtures) -> None:
    vectors = json.loads((shared_fixtures / "webhooks" / "signatures.json").read_text())
    env = {"DATABASE_URL": database, "K2_API_KEY": vectors["api_key"], "K2_CLIENT_ID": "id",
           "K2_CLIENT_SECRET": "secret", "K2_BASE_URL": "http://127.0.0.1:9"}
    app = run_app(env)
    base = next(app)
    with httpx.Client(base_url=base, timeout=30) as client:
        for case in vectors["cases"]:
            body = (shared_fixtures / "webhooks" / case["file"]).read_bytes()
            headers = {"X-KopoKopo-Signature": case["signature"]}
            response = client.post("/api/k2/webhooks", content=body, headers=headers)
            assert response.status_code == 200, case["file"]
        forged = client.post("/api/k2/webhooks", content=b"{}", headers={"X-KopoKopo-Signature": "0" * 64})
        assert forged.status_code == 401
        assert client.get("/").status_code == 200  # the UI is served by the same server
    next(app, None)  # SIGTERM: the lifespan's exit stops ingestion cleanly (exit code 0)
    engine = sa.create_engine(database)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one() == len(vectors["cases"])
        assert connection.execute(sa.text("SELECT count(*) FROM transactions")).scalar_one() == 4
    engine.dispose()


@pytest.mark.slow
def test_demo_mode_emulator_history_arrives_through_the_route(database) -> None:
    app = run_app({"DATABASE_URL": database})
    next(app)
    engine = sa.create_engine(database)
    received = 0
    for _ in range(600):  # the emulator sends its month of history as signed webhooks
        with engine.connect() as connection:
            received = connection.execute(sa.text("SELECT count(*) FROM transactions")).scalar_one()
        if received >= 250:
            break
        time.sleep(0.1)
    next(app, None)
    with engine.connect() as connection:
        rejected_free = connection.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one()
    engine.dispose()
    assert received >= 250
    assert rejected_free >= received
