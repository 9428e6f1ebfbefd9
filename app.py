"""The launcher (`streamlit run app.py`): the UI script, the K2 webhook route, and a lifespan that starts the
ingestion thread (and, in demo mode, the embedded K2 emulator) at server start, before any browser opens."""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

import httpx
import streamlit as st
from streamlit import config as streamlit_config
from streamlit.runtime.pages_manager import PagesManager

from merchant import counts
from merchant.config import Settings, load_settings, use_settings
from merchant.subscriptions import subscribe_webhooks
from merchant.webhooks import WEBHOOK_PATH, WebhookReceiver

log = logging.getLogger(__name__)

receiver = WebhookReceiver()
DEMO_HISTORY = 300  # simulated payments over the last 30 days, so a fresh demo has something to chart


def _start_demo_k2(settings: Settings, stack: AsyncExitStack) -> tuple[Settings, str]:
    """Demo mode: an emulator on loopback whose credentials and signing key the app then uses.

    Pages see the same settings through `use_settings` (they never see this lifespan): the emulator's till,
    and this server's loopback address as `public_base_url`, where the emulator posts result callbacks."""
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
    use_settings(demo)
    stack.callback(use_settings, None)
    return demo, sim.base_url


def _connect_demo(settings: Settings, sim_url: str, seed: bool) -> None:
    """Subscribe our route to every event, then (first start only) have the emulator send a month of history."""
    try:
        port = streamlit_config.get_option("server.port")
        subscribe_webhooks(settings, f"http://127.0.0.1:{port}{WEBHOOK_PATH}")
        if seed:
            httpx.post(f"{sim_url}/sim/traffic", json={"count": DEMO_HISTORY}, timeout=60).raise_for_status()
    except Exception:  # the demo still serves its pages; the log says what failed
        log.exception("demo mode: could not connect the emulator")


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Process-wide singletons live here: the emulator (demo), the database engine and the ingestion thread."""
    settings = load_settings()
    async with AsyncExitStack() as stack:
        sim_url = None
        if settings.demo_mode:
            settings, sim_url = _start_demo_k2(settings, stack)
        worker = await stack.enter_async_context(receiver.running(settings))
        if sim_url:
            seed = counts(worker.engine).transactions == 0
            threading.Thread(target=_connect_demo, args=(settings, sim_url, seed), daemon=True).start()
        yield


# streamlit_app.py navigates with st.navigation over pages/. Streamlit learns that only when the entry script first
# runs; until then it treats pages/ as legacy auto-discovered pages, so a first visitor arriving at /money_in would
# get that page run alone, without the frame and its demo banner. Say it up front.
PagesManager.uses_pages_directory = False

app = st.App("streamlit_app.py", routes=receiver.routes, lifespan=lifespan)
