"""HTTP handlers: thin functions that parse a request, call one state method and render K2's answer."""
from __future__ import annotations

__all__: list[str] = []
