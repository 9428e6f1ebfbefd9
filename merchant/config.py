"""Settings from the environment or the `[k2]` table of `.streamlit/secrets.toml`; the only reader of either."""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["PROJECT_ROOT", "SECRETS_PATH", "Settings", "load_settings"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"
_DEFAULT_DATABASE = PROJECT_ROOT / "data" / "merchant.db"


@dataclass(frozen=True)
class Settings:
    """What the app needs to reach K2 and its database; secrets stay out of `repr`."""

    k2_base_url: str = "https://sandbox.kopokopo.com"
    k2_client_id: str = field(default="", repr=False)
    k2_client_secret: str = field(default="", repr=False)
    k2_api_key: str = field(default="", repr=False)
    k2_till_number: str = ""
    public_base_url: str = ""
    database_url: str = field(default=f"sqlite:///{_DEFAULT_DATABASE}", repr=False)  # may hold a password
    emulated: bool = False  # K2 is the embedded emulator (demo mode), though its credentials are filled in
    outbox_concurrency: int = 8  # money requests in flight at once
    outbox_per_second: float = 20.0  # money requests sent per second at most
    session_idle_minutes: float = 30.0  # a signed-in session ends after this long without a click

    @property
    def demo_mode(self) -> bool:
        """No client credentials, or the emulator's: run against it, where no real money moves."""
        return self.emulated or not (self.k2_client_id and self.k2_client_secret)

    def with_k2(self, *, base_url: str, client_id: str, client_secret: str, api_key: str) -> Settings:
        """A copy pointed at another K2 (the demo emulator), keeping the database and till."""
        return replace(
            self, k2_base_url=base_url, k2_client_id=client_id, k2_client_secret=client_secret, k2_api_key=api_key
        )


_NAMES = {
    "K2_BASE_URL": "k2_base_url",
    "K2_CLIENT_ID": "k2_client_id",
    "K2_CLIENT_SECRET": "k2_client_secret",
    "K2_API_KEY": "k2_api_key",
    "K2_TILL_NUMBER": "k2_till_number",
    "PUBLIC_BASE_URL": "public_base_url",
    "DATABASE_URL": "database_url",
}
_NUMBERS = {
    "OUTBOX_CONCURRENCY": ("outbox_concurrency", int),
    "OUTBOX_PER_SECOND": ("outbox_per_second", float),
    "SESSION_IDLE_MINUTES": ("session_idle_minutes", float),
}


def load_settings(environ: Mapping[str, str] | None = None, secrets_path: Path = SECRETS_PATH) -> Settings:
    """Environment first, then `[k2]` in the secrets file, then defaults; blank values count as unset."""
    env = os.environ if environ is None else environ
    table = _secrets_table(secrets_path)
    values: dict[str, Any] = {}
    for name, attribute in _NAMES.items():
        value = env.get(name) or str(table.get(name) or "")
        if value.strip():
            values[attribute] = value.strip()
    for name, (attribute, kind) in _NUMBERS.items():
        value = env.get(name) or str(table.get(name) or "")
        if value.strip():
            try:
                number = kind(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {value!r}") from None
            if not number > 0:
                raise ValueError(f"{name} must be more than 0, not {value!r}")
            values[attribute] = number
    return Settings(**values)


def _secrets_table(path: Path) -> Mapping[str, object]:
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        table = tomllib.load(handle).get("k2", {})
    return table if isinstance(table, dict) else {}
