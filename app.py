"""The launcher (`streamlit run app.py`): the UI script, the K2 webhook route, and a lifespan that starts the
ingestion thread (and, in demo mode, the embedded K2 emulator) at server start, before any browser opens."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import streamlit as st

from merchant.config import Settings, load_settings
from merchant.webhooks import WebhookReceiver

receiver = WebhookReceiver()


def _start_demo_k2(settings: Settings, stack: AsyncExitStack) -> Settings:
    """Demo mode: an emulator on loopback whose credentials and signing key the app then uses."""
    from k2sim import SimConfig, start_in_thread

    sim = start_in_thread(SimConfig(till_number=settings.k2_till_number or "K000000"))
    stack.callback(sim.stop)
    return settings.with_k2(
        base_url=sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret, api_key=sim.api_key
    )


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Process-wide singletons live here: the emulator (demo), the database engine and the ingestion thread."""
    settings = load_settings()
    async with AsyncExitStack() as stack:
        if settings.demo_mode:
            settings = _start_demo_k2(settings, stack)
        await stack.enter_async_context(receiver.running(settings))
        yield


app = st.App("streamlit_app.py", routes=receiver.routes, lifespan=lifespan)
