"""The real `streamlit run app.py` server: the lifespan starts ingestion with no browser open, the webhook
route answers beside the UI, and demo mode connects the embedded emulator."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.servers import running_app


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.mark.slow
def test_app_route_stores_every_signed_fixture_with_no_browser_open(database, shared_fixtures, tmp_path) -> None:
    vectors = json.loads((shared_fixtures / "webhooks" / "signatures.json").read_text())
    env = {"DATABASE_URL": database, "K2_API_KEY": vectors["api_key"], "K2_CLIENT_ID": "id",
           "K2_CLIENT_SECRET": "secret", "K2_BASE_URL": "http://127.0.0.1:9"}
    with running_app(env, tmp_path / "app.log") as base, httpx.Client(base_url=base, timeout=30) as client:
        for case in vectors["cases"]:
            body = (shared_fixtures / "webhooks" / case["file"]).read_bytes()
            headers = {"X-KopoKopo-Signature": case["signature"]}
            response = client.post("/api/k2/webhooks", content=body, headers=headers)
            assert response.status_code == 200, case["file"]
        forged = client.post("/api/k2/webhooks", content=b"{}", headers={"X-KopoKopo-Signature": "0" * 64})
        assert forged.status_code == 401
        assert client.get("/").status_code == 200  # the UI is served by the same server
    # leaving the block sent SIGTERM: the lifespan's exit stopped ingestion cleanly (exit code 0)
    engine = sa.create_engine(database)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one() == len(vectors["cases"])
        assert connection.execute(sa.text("SELECT count(*) FROM transactions")).scalar_one() == 4
    engine.dispose()


@pytest.mark.slow
def test_demo_mode_fills_its_history_through_k2s_polling_api(database, tmp_path) -> None:
    engine = sa.create_engine(database)
    received = 0
    with running_app({"DATABASE_URL": database}, tmp_path / "app.log"):
        for _ in range(600):  # the emulator's month of history, sent by no webhook, filled in by polling
            with engine.connect() as connection:
                received = connection.execute(sa.text("SELECT count(*) FROM transactions")).scalar_one()
            if received >= 300:
                break
            time.sleep(0.1)
    with engine.connect() as connection:
        by_polling = connection.execute(sa.text(
            "SELECT count(*) FROM transactions t JOIN webhook_events e ON e.id = t.event_id WHERE e.kind = 'polling'"
        )).scalar_one()
        filled = connection.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE action = 'history_filled' AND source = 'demo'")).scalar_one()
    engine.dispose()
    assert received == by_polling == 300
    assert filled == 1
