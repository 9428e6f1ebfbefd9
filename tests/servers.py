"""Real servers for tests: a free loopback port, and the app itself (`streamlit run app.py`) as a user starts it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Yield the base URL once `/_stcore/health` answers; SIGTERM on exit must shut the server down cleanly."""
    port = free_port()
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("K2_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.port", str(port), "--server.headless", "true"],
            cwd=ROOT, env=base_env | env, stdout=log, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(process, base, log_path)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail("streamlit did not stop on SIGTERM")
    # uvicorn re-raises SIGTERM after a clean shutdown
    assert process.returncode in (0, -signal.SIGTERM), log_path.read_text()[-2000:]


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"streamlit did not answer /_stcore/health within {START_TIMEOUT_S:.0f}s: {log_path.read_text()[-2000:]}")
