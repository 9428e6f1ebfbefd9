"""k2sim: a local emulator of Kopo Kopo's K2 Connect API (OAuth, v1 and v2, signed callbacks, webhooks, traffic)."""
from __future__ import annotations

from .app import create_app
from .config import SimConfig
from .delivery import sign
from .outcomes import Outcome
from .server import RunningSim, start_in_thread

__all__ = ["SimConfig", "RunningSim", "start_in_thread", "create_app", "Outcome", "sign"]
