"""Serving the emulator with uvicorn: blocking for the CLI, or in a background thread for demo mode and tests."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import SimConfig

__all__ = ["RunningSim", "start_in_thread", "bind", "make_server", "serve_in_thread"]

_START_TIMEOUT_S = 10.0


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening-ready socket (port 0 picks a free one) and the base URL it serves."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if family == socket.AF_INET6 else host)
    return sock, f"http://{shown}:{sock.getsockname()[1]}"


def make_server(app: Starlette) -> uvicorn.Server:
    """A uvicorn server for the app, quiet and quick to stop."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                         timeout_graceful_shutdown=1, backlog=2048))


def serve_in_thread(
    app: Starlette, host: str = "127.0.0.1", port: int = 0, *, name: str | None = None
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Serve `app` from a daemon thread and return once it answers: the server (set `should_exit` to stop),
    its thread and its base URL."""
    sock, base_url = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name or 'server'} did not start on {base_url}")
        time.sleep(0.005)
    return server, thread, base_url


@dataclass
class RunningSim:
    """An emulator serving in a background thread; `stop()` (or leaving the `with`) shuts it down."""

    base_url: str
    client_id: str
    client_secret: str
    api_key: str
    config: SimConfig
    app: Starlette
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and cancel pending resolutions and deliveries."""
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_S)

    def __enter__(self) -> RunningSim:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def start_in_thread(config: SimConfig | None = None) -> RunningSim:
    """Start an emulator on `config.host:config.port` (0 = a free port) and return once it answers."""
    settings = (config or SimConfig()).with_credentials()
    app = create_app(settings)
    server, thread, base_url = serve_in_thread(app, settings.host, settings.port, name="k2sim")
    assert settings.client_id and settings.client_secret and settings.api_key
    return RunningSim(base_url, settings.client_id, settings.client_secret, settings.api_key, settings, app,
                      server, thread)
