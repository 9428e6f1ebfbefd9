"""Settings, money and phone numbers: the conventions every other module relies on."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from merchant.config import Settings, load_settings
from merchant.db import make_engine
from merchant.money import from_cents, to_cents
from k2.phones import to_e164


class TestSettings:
    def test_load_settings_environment_wins_over_secrets_file(self, tmp_path: Path) -> None:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text('[k2]\nK2_CLIENT_ID = "from-file"\nK2_API_KEY = "file-key"\nK2_TILL_NUMBER = "K111"\n')
        settings = load_settings({"K2_CLIENT_ID": "from-env", "K2_CLIENT_SECRET": "s"}, secrets)
        assert (settings.k2_client_id, settings.k2_api_key, settings.k2_till_number) == ("from-env", "file-key", "K111")
        assert not settings.demo_mode

    def test_load_settings_without_credentials_is_demo_mode(self, tmp_path: Path) -> None:
        settings = load_settings({}, tmp_path / "missing.toml")
        assert settings.demo_mode
        assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("data/merchant.db")

    def test_load_settings_blank_value_counts_as_unset(self, tmp_path: Path) -> None:
        assert load_settings({"DATABASE_URL": "  "}, tmp_path / "none.toml").database_url == Settings().database_url

    def test_settings_repr_hides_secrets(self) -> None:
        text = repr(Settings(k2_client_id="cid-123", k2_client_secret="sec-456", k2_api_key="key-789",
                             database_url="postgresql+psycopg://merchant:pw-000@db/merchant"))
        assert "cid-123" not in text and "sec-456" not in text and "key-789" not in text and "pw-000" not in text


class TestMoney:
    @pytest.mark.parametrize(("amount", "cents"), [("100.0", 10000), ("0.01", 1), ("49452", 4945200), ("780.5", 78050)])
    def test_to_cents_is_exact(self, amount: str, cents: int) -> None:
        assert to_cents(Decimal(amount)) == cents
        assert from_cents(cents) == Decimal(amount)

    def test_to_cents_refuses_a_fraction_of_a_cent(self) -> None:
        with pytest.raises(ValueError, match="fraction of a cent"):
            to_cents(Decimal("1.005"))


class TestPhones:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [("0712345678", "+254712345678"), ("0112345678", "+254112345678"), ("254712345678", "+254712345678"),
         ("+254712345678", "+254712345678"), ("+254999999999", "+254999999999"),
         ("abc123hashedphone", None), (None, None), ("12", None),
         ("0712 345 678", "+254712345678"), ("0712-345-678", "+254712345678"), ("712345678", "+254712345678")],
    )
    def test_to_e164(self, raw: str | None, e164: str | None) -> None:
        assert to_e164(raw) == e164



class TestSqliteDurability:
    def test_make_engine_flushes_the_wal_on_every_commit(self, tmp_path: Path) -> None:
        """A 200 stops K2's retries, so each commit must reach the disk (WAL + synchronous=FULL)."""
        engine = make_engine(f"sqlite:///{tmp_path / 'merchant.db'}")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        engine.dispose()
