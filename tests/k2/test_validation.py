"""Request models refuse bad input before anything is sent, with a message naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from k2 import (
    BankAccountDestination,
    BankAccountRecipient,
    IncomingPaymentParams,
    K2Client,
    MerchantBankAccountDestination,
    MerchantWalletDestination,
    MobileWalletDestination,
    MobileWalletRecipient,
    PaybillDestination,
    PaybillRecipient,
    PaymentLinkParams,
    PaymentParams,
    PollingParams,
    RequestValidationError,
    ReversalParams,
    SendMoneyParams,
    SettlementTransferParams,
    SweepParams,
    TillDestination,
    TillRecipient,
    WebhookSubscriptionParams,
)

from .conftest import FakeK2

STK: dict[str, Any] = {
    "till_number": "K000000",
    "phone_number": "0712345678",
    "amount": "100",
    "callback_url": "https://shop.test/cb",
}


def refused(model: type, **fields: Any) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        model(**fields)
    return caught.value


class TestPhoneNumbers:
    @pytest.mark.parametrize(
        ("given", "sent"),
        [
            ("0712345678", "+254712345678"),
            ("0110123456", "+254110123456"),
            ("254712345678", "+254712345678"),
            ("+254712345678", "+254712345678"),
            ("254110123456", "+254110123456"),
            ("+254110123456", "+254110123456"),
            (" 0712 345 678 ", "+254712345678"),
        ],
    )
    def test_kenyan_mobiles_are_sent_in_e164(self, given: str, sent: str) -> None:
        params = IncomingPaymentParams(**{**STK, "phone_number": given})
        assert params.wire()["subscriber"]["phone_number"] == sent

    @pytest.mark.parametrize("given", ["07123", "+255712345678", "0202222222", "phone", "+254999999999", ""])
    def test_others_are_refused_naming_the_field(self, given: str) -> None:
        error = refused(IncomingPaymentParams, **{**STK, "phone_number": given})
        assert error.field == "phone_number"
        assert "Kenyan mobile number" in str(error)

    def test_a_number_type_is_refused(self) -> None:
        assert refused(IncomingPaymentParams, **{**STK, "phone_number": 712345678}).field == "phone_number"


class TestAmounts:
    @pytest.mark.parametrize(
        ("given", "sent"),
        [(Decimal("10.5"), "10.5"), ("99.99", "99.99"), (250, "250"), (Decimal("1E+3"), "1000.00"), ("7.500", "7.50")],
    )
    def test_exact_positive_amounts_are_sent_as_exact_strings(self, given: object, sent: str) -> None:
        assert IncomingPaymentParams(**{**STK, "amount": given}).wire()["amount"] == {"currency": "KES", "value": sent}

    @pytest.mark.parametrize(
        ("given", "words"),
        [
            (10.5, "never a float"),
            (True, "never a float"),
            ("0", "positive"),
            (Decimal("-5"), "positive"),
            ("1.234", "more than 2 decimal places"),
            ("ten", "not a number"),
            (Decimal("NaN"), "positive"),
            (Decimal("1E+40"), "too large"),
        ],
    )
    def test_bad_amounts_are_refused(self, given: object, words: str) -> None:
        error = refused(IncomingPaymentParams, **{**STK, "amount": given})
        assert error.field == "amount"
        assert words in str(error)

    def test_only_kes(self) -> None:
        error = refused(IncomingPaymentParams, **{**STK, "currency": "USD"})
        assert error.field == "currency"


class TestTillsUrlsMetadata:
    @pytest.mark.parametrize("given", ["K000000", "k123456"])
    def test_online_till_with_k_prefix(self, given: str) -> None:
        assert IncomingPaymentParams(**{**STK, "till_number": given}).wire()["till_number"] == given.upper()

    @pytest.mark.parametrize("given", ["000000", "KABC", "K", ""])
    def test_stk_till_without_k_prefix_is_refused(self, given: str) -> None:
        error = refused(IncomingPaymentParams, **{**STK, "till_number": given})
        assert error.field == "till_number"

    def test_recipient_till_is_digits(self) -> None:
        assert refused(TillRecipient, till_name="Shop", till_number="K12345").field == "till_number"
        assert TillRecipient(till_name="Shop", till_number="555555").wire()["till_number"] == "555555"

    @pytest.mark.parametrize("given", ["/cb", "ftp://shop.test/cb", "shop.test/cb"])
    def test_callback_url_must_be_absolute_http(self, given: str) -> None:
        assert refused(IncomingPaymentParams, **{**STK, "callback_url": given}).field == "callback_url"

    def test_metadata_at_most_five_keys(self) -> None:
        five = {f"k{i}": "v" for i in range(5)}
        assert IncomingPaymentParams(**{**STK, "metadata": five}).wire()["metadata"] == five
        error = refused(IncomingPaymentParams, **{**STK, "metadata": {**five, "k5": "v"}})
        assert error.field == "metadata"
        assert "at most 5" in str(error)

    @pytest.mark.parametrize(
        ("model", "fields"),
        [
            (IncomingPaymentParams, STK),
            (
                PaymentParams,
                {
                    "destination_type": "till",
                    "destination_reference": "r",
                    "amount": "1",
                    "description": "d",
                    "callback_url": "https://s.test/cb",
                },
            ),
            (
                SettlementTransferParams,
                {
                    "amount": "1",
                    "destination_type": "merchant_wallet",
                    "destination_reference": "w",
                    "callback_url": "https://s.test/cb",
                },
            ),
            (SweepParams, {"callback_url": "https://s.test/cb"}),
            (
                SendMoneyParams,
                {
                    "destinations": [{"type": "merchant_wallet", "reference": "w", "amount": "1"}],
                    "callback_url": "https://s.test/cb",
                },
            ),
            (ReversalParams, {"transaction_reference": "Q", "reason": "r", "callback_url": "https://s.test/cb"}),
            (
                PaymentLinkParams,
                {"till_number": "555555", "amount": "1", "payment_reference": "p", "callback_url": "https://s.test/cb"},
            ),
        ],
        ids=lambda value: value.__name__ if isinstance(value, type) else "",
    )
    def test_every_money_request_carries_metadata_of_at_most_five_keys(
        self, model: type, fields: dict[str, Any]
    ) -> None:
        five = {"request_ref": "r-1", **{f"k{i}": "v" for i in range(4)}}
        assert model(**fields, metadata=five).wire()["metadata"] == five
        assert refused(model, **fields, metadata={**five, "k9": "v"}).field == "metadata"

    def test_metadata_values_are_strings(self) -> None:
        assert refused(IncomingPaymentParams, **{**STK, "metadata": {"n": 1}}).field == "metadata.n"

    def test_email_is_checked_when_given(self) -> None:
        assert refused(IncomingPaymentParams, **{**STK, "email": "not-an-email"}).field == "email"

    def test_unknown_field_is_refused(self) -> None:
        error = refused(IncomingPaymentParams, **{**STK, "phone": "0712345678"})
        assert error.field == "phone"
        assert "not a field" in str(error)

    def test_missing_field_is_named(self) -> None:
        error = refused(IncomingPaymentParams, **{key: value for key, value in STK.items() if key != "callback_url"})
        assert (error.field, str(error)) == ("callback_url", "callback_url: is required")

    def test_blank_text_is_refused(self) -> None:
        assert refused(TillRecipient, till_name="  ", till_number="555555").field == "till_name"


class TestRecipients:
    @pytest.mark.parametrize(
        ("model", "missing"),
        [
            (MobileWalletRecipient, {"first_name", "last_name", "phone_number"}),
            (BankAccountRecipient, {"account_name", "account_number", "bank_branch_ref", "settlement_method"}),
            (TillRecipient, {"till_name", "till_number"}),
            (PaybillRecipient, {"paybill_name", "paybill_number", "paybill_account_number"}),
        ],
    )
    def test_each_type_requires_its_fields(self, model: type, missing: set[str]) -> None:
        error = refused(model)
        assert error.field in missing
        assert str(error).endswith(f"is required (and {len(missing) - 1} more)")

    def test_settlement_method_is_eft_or_rts(self) -> None:
        error = refused(
            BankAccountRecipient, account_name="A", account_number="1", bank_branch_ref="b", settlement_method="SWIFT"
        )
        assert error.field == "settlement_method"


class TestDestinations:
    def test_send_money_names_the_bad_destination(self) -> None:
        error = refused(
            SendMoneyParams,
            destinations=[
                TillDestination(till_number="555555", amount=Decimal("5"), description="ok"),
                {"type": "mobile_wallet", "phone_number": "0712345678", "amount": "1"},
            ],
            callback_url="https://shop.test/cb",
        )
        assert error.field == "destinations.1.mobile_wallet.description"

    def test_nested_model_error_keeps_its_own_field(self) -> None:
        error = refused(MobileWalletDestination, phone_number="0712345678", amount="1.001", description="x")
        assert error.field == "amount"

    def test_unknown_destination_type_is_refused(self) -> None:
        error = refused(SendMoneyParams, destinations=[{"type": "card", "amount": "1"}], callback_url="https://s.test")
        assert error.field == "destinations.0"

    def test_empty_destinations_refused_pointing_at_sweep(self) -> None:
        error = refused(SendMoneyParams, destinations=[], callback_url="https://shop.test/cb")
        assert error.field == "destinations"
        assert "sweep()" in str(error)

    @pytest.mark.parametrize(
        ("model", "required"),
        [
            (MobileWalletDestination, {"amount", "description", "phone_number"}),
            (BankAccountDestination, {"amount", "description", "account_name", "account_number", "bank_branch_ref"}),
            (TillDestination, {"amount", "description", "till_number"}),
            (PaybillDestination, {"amount", "description", "paybill_number", "paybill_account_number"}),
            (MerchantWalletDestination, {"amount", "reference"}),
            (MerchantBankAccountDestination, {"amount", "reference"}),
        ],
        ids=lambda value: value.__name__ if isinstance(value, type) else "",
    )
    def test_each_type_requires_its_fields(self, model: type, required: set[str]) -> None:
        error = refused(model)
        assert error.field in required
        assert str(error).endswith(f"is required (and {len(required) - 1} more)")

    def test_till_and_paybill_destinations_take_digits(self) -> None:
        assert refused(TillDestination, till_number="K55", amount="1", description="d").field == "till_number"
        error = refused(PaybillDestination, paybill_number="KPLC", paybill_account_number="a", amount="1", description="d")
        assert error.field == "paybill_number"

    def test_merchant_destination_needs_reference_and_amount(self) -> None:
        assert refused(MerchantWalletDestination, amount="1").field == "reference"
        assert refused(MerchantWalletDestination, reference="acc-1").field == "amount"

    def test_bank_destination_needs_branch(self) -> None:
        error = refused(BankAccountDestination, account_name="A", account_number="1", amount="1", description="d")
        assert error.field == "bank_branch_ref"


class TestScopes:
    def test_till_scope_needs_a_till_number(self) -> None:
        error = refused(
            WebhookSubscriptionParams, event_type="buygoods_transaction_received", url="https://s.test/h", scope="till"
        )
        assert error.field == "scope_reference"

    def test_company_events_refuse_till_scope(self) -> None:
        error = refused(
            WebhookSubscriptionParams,
            event_type="settlement_transfer_completed",
            url="https://s.test/h",
            scope="till",
            scope_reference="555555",
        )
        assert error.field == "scope"

    def test_daraja_payload_only_for_two_events(self) -> None:
        error = refused(
            WebhookSubscriptionParams,
            event_type="customer_created",
            url="https://s.test/h",
            scope="company",
            enable_daraja_payload=True,
        )
        assert error.field == "enable_daraja_payload"

    def test_unknown_event_type_is_refused(self) -> None:
        error = refused(
            WebhookSubscriptionParams, event_type="payment_received", url="https://s.test/h", scope="company"
        )
        assert error.field == "event_type"

    def test_polling_range_must_run_forwards_in_aware_times(self) -> None:
        now = datetime(2024, 5, 1, tzinfo=timezone.utc)
        common = {"scope": "company", "callback_url": "https://s.test/cb"}
        assert refused(PollingParams, **common, from_time=now, to_time=now - timedelta(hours=1)).field == "to_time"
        assert refused(PollingParams, **common, from_time=now.replace(tzinfo=None), to_time=now).field == "from_time"


class TestNothingIsSent:
    def test_resource_refuses_before_any_request(self, client: K2Client, fake: FakeK2) -> None:
        with pytest.raises(RequestValidationError):
            client.incoming_payments.create(**{**STK, "phone_number": "12"})
        with pytest.raises(RequestValidationError):
            client.v2.send_money.create(destinations=[], callback_url="https://s.test/cb")
        with pytest.raises(RequestValidationError, match="v2"):
            client.webhook_subscriptions.create(
                event_type="buygoods_transaction_received",
                url="https://s.test/h",
                scope="till",
                scope_reference="555555",
                enable_daraja_payload=True,
            )
        assert fake.requests == []

    def test_error_is_a_value_error_too(self) -> None:
        assert isinstance(refused(IncomingPaymentParams), ValueError)
