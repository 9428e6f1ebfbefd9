"""The launcher (`streamlit run app.py`): the UI script, the K2 webhook route, and a lifespan that starts the
process's runtime (ingestion, the outbox worker and, in demo mode, the embedded K2 emulator) at server start,
before any browser opens."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import streamlit as st
from streamlit import config as streamlit_config
from streamlit.runtime.pages_manager import PagesManager

from merchant.access import CONSOLE
from merchant.config import Settings, load_settings
from merchant.inbox import WEBHOOK_PATH, WebhookReceiver, counts
from merchant.money_in import BUSINESS_TIMEZONE
from merchant.money_in.backfill import fill_in
from merchant.runtime import Runtime
from merchant.subscriptions import subscribe_webhooks

log = logging.getLogger(__name__)

receiver = WebhookReceiver()
DEMO_HISTORY = 300  # simulated payments over the last DEMO_DAYS days, so a fresh demo has something to chart
DEMO_DAYS = 30


def _start_demo_k2(settings: Settings, stack: AsyncExitStack) -> tuple[Settings, str]:
    """Demo mode: an emulator on loopback whose credentials and signing key the runtime then uses, with this
    server's loopback address as `public_base_url`, where the emulator posts result callbacks."""
    from k2sim import SimConfig, start_in_thread

    sim = start_in_thread(SimConfig(till_number=settings.k2_till_number or "K000000"))
    stack.callback(sim.stop)
    port = streamlit_config.get_option("server.port")
    demo = replace(
        settings.with_k2(
            base_url=sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret, api_key=sim.api_key
        ),
        k2_till_number=sim.config.till_number,
        public_base_url=f"http://127.0.0.1:{port}",
        emulated=True,
    )
    return demo, sim.base_url


def _connect_demo(runtime: Runtime, sim_url: str, seed: bool) -> None:
    """Subscribe our route to every event (live payments come by webhook), then (first start only) give the
    emulator a month of past payments, sent by no webhook, and fill them in through K2's polling API, as a real
    install fills in what came before it."""
    try:
        subscribe_webhooks(runtime, CONSOLE)
        if seed:
            assert runtime.engine is not None and runtime.client is not None
            now = datetime.now(BUSINESS_TIMEZONE)
            since = now - timedelta(days=DEMO_DAYS)
            history = {"count": DEMO_HISTORY, "from_time": since.isoformat(), "to_time": now.isoformat(),
                       "webhooks": False}
            httpx.post(f"{sim_url}/sim/traffic", json=history, timeout=60).raise_for_status()
            fill_in(runtime.engine, runtime.client, CONSOLE, since.date(), now.date(),
                    callback_url=runtime.callback_url, source="demo")
    except Exception:  # the demo still serves its pages; the log says what failed
        log.exception("demo mode: could not connect the emulator")


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """The runtime lives here, once per process: pages reach it through `merchant.runtime.current()`."""
    settings = load_settings()
    async with AsyncExitStack() as stack:
        sim_url = None
        if settings.demo_mode:
            settings, sim_url = _start_demo_k2(settings, stack)
        runtime = Runtime(settings, receiver=receiver)
        await asyncio.to_thread(runtime.start)
        stack.push_async_callback(asyncio.to_thread, runtime.stop)
        runtime.install()
        stack.callback(runtime.uninstall)
        if sim_url:
            assert runtime.engine is not None
            seed = counts(runtime.engine).transactions == 0
            threading.Thread(target=_connect_demo, args=(runtime, sim_url, seed), daemon=True).start()
        yield


# streamlit_app.py navigates with st.navigation over pages/. Streamlit learns that only when the entry script first
# runs; until then it treats pages/ as legacy auto-discovered pages, so a first visitor arriving at /money_in would
# get that page run alone, without the frame and its demo banner. No documented setting says it up front (only
# renaming the folder would, and pages/ is the project's agreed layout), so this one line does, guarded by
# tests/ui/test_browser.py (a first visit straight to a page URL must get the frame).
PagesManager.uses_pages_directory = False

app = st.App("streamlit_app.py", routes=receiver.routes, lifespan=lifespan)
