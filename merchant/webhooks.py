"""The standalone receiver: the webhook route on its own server, with the process's runtime behind it.

    python -m merchant.webhooks --host 127.0.0.1 --port 8600 [--workers N]
    python -m merchant.webhooks --reprocess                   # map again what failed to map, after a fix
    uvicorn merchant.webhooks:app --workers 4                 # with DATABASE_URL=postgresql+psycopg://...

It runs the same runtime as the app (ingestion, and the outbox worker when K2 credentials are set), so a
receiver process alone also sends what pages queued and settles it."""
from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from .config import Settings, load_settings
from .db import open_database
from .inbox import WebhookReceiver, reprocess_failed
from .runtime import Runtime

__all__ = ["app", "create_app", "main"]


def create_app(
    settings: Settings | None = None, *, receiver: WebhookReceiver | None = None, lock_timeout: float = 5.0
) -> Starlette:
    """Only the webhook route; its settings are read at start from the usual environment unless given."""
    receiver = receiver or WebhookReceiver()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        runtime = Runtime(settings or load_settings(), receiver=receiver, lock_timeout=lock_timeout)
        await asyncio.to_thread(runtime.start)
        runtime.install()
        try:
            yield
        finally:
            runtime.uninstall()
            await asyncio.to_thread(runtime.stop)

    standalone = Starlette(routes=receiver.routes, lifespan=lifespan)
    standalone.state.receiver = receiver
    return standalone


app = create_app()


def main(argv: list[str] | None = None) -> None:
    """`python -m merchant.webhooks --host 127.0.0.1 --port 8600 [--workers N]`, or `--reprocess` and exit."""
    parser = argparse.ArgumentParser(prog="python -m merchant.webhooks", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--workers", type=int, default=1, help="processes; use PostgreSQL for more than one machine")
    parser.add_argument(
        "--reprocess", action="store_true", help="map again every stored delivery that failed to map, then exit"
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: a line (and a lock on the log's handler) per K2 call while a payroll goes
    # out; what went wrong with a call is logged by the outbox and the client themselves.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if options.reprocess:
        engine = open_database(load_settings().database_url)
        print(f"{reprocess_failed(engine)} stored deliveries that had failed to map are now mapped")
        engine.dispose()
        return
    uvicorn.run(
        "merchant.webhooks:app",
        host=options.host,
        port=options.port,
        workers=options.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
