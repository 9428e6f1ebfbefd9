"""Signatures and parsing of what K2 posts, over our own bodies written from the documented shapes."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from k2 import InvalidPayloadError
from k2.types import (
    B2BTransaction,
    BuygoodsTransaction,
    DarajaEvent,
    IncomingPayment,
    M2MTransaction,
    Payment,
    PaymentLink,
    SendMoney,
    SettlementTransfer,
    SettlementTransferCompleted,
    StatusDocument,
    WebhookEvent,
)
from k2.webhooks import parse, sign, verify_signature
from tests.conftest import SHARED_FIXTURES

KEY = "test-api-key"
VECTORS = json.loads((SHARED_FIXTURES / "webhooks" / "signatures.json").read_text())
VECTOR_KEY = VECTORS["api_key"]


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def buygoods(topic: str = "buygoods_transaction_received", **resource: object) -> dict:
    return {
        "topic": topic,
        "id": "evt-1",
        "created_at": "2026-11-20T10:43:20+03:00",
        "event": {
            "type": "Buygoods Transaction",
            "resource": {
                "id": "res-1",
                "amount": "1250.50",
                "status": "Received",
                "system": "Lipa Na M-PESA",
                "currency": "KES",
                "reference": "QKL1AB2CD3",
                "till_number": "514459",
                "sender_phone_number": "+254712345678",
                "origination_time": "2026-11-20T10:43:19+03:00",
                "sender_first_name": "Wanjiru",
                "sender_middle_name": None,
                "sender_last_name": "Kamau",
                **resource,
            },
        },
        "_links": {"self": "https://k2.test/webhook_events/evt-1", "resource": "https://k2.test/financial_transaction/res-1"},
    }


def stk_result(status: str, *, resource: dict | None = None, errors: object = None) -> dict:
    return {
        "data": {
            "id": "ip-1",
            "type": "incoming_payment",
            "attributes": {
                "initiation_time": "2026-11-20T09:24:48.622+03:00",
                "status": status,
                "event": {"type": "Incoming Payment Request", "resource": resource, "errors": errors},
                "metadata": {"order": "A-17"},
                "_links": {"callback_url": "https://shop.test/cb", "self": "https://k2.test/api/v1/incoming_payments/ip-1"},
            },
        }
    }


class TestSignature:
    def test_sign_is_lowercase_hex_hmac_sha256(self) -> None:
        # RFC 4231 test case 2
        assert sign(b"what do ya want for nothing?", "Jefe") == (
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )

    def test_verify_signature_accepts_its_own_signature(self) -> None:
        raw = compact(buygoods())
        assert verify_signature(raw, sign(raw, KEY), KEY)

    def test_verify_signature_accepts_uppercase_hex_and_surrounding_space(self) -> None:
        raw = compact(buygoods())
        assert verify_signature(raw, f" {sign(raw, KEY).upper()} ", KEY)

    def test_verify_signature_rejects_a_tampered_byte(self) -> None:
        raw = compact(buygoods())
        signature = sign(raw, KEY)
        tampered = raw.replace(b"1250.50", b"9250.50")
        assert not verify_signature(tampered, signature, KEY)

    def test_verify_signature_rejects_the_wrong_key(self) -> None:
        raw = compact(buygoods())
        assert not verify_signature(raw, sign(raw, "another-key"), KEY)

    def test_verify_signature_rejects_reserialised_json(self) -> None:
        body = buygoods()
        raw = compact(body)
        pretty = json.dumps(body, indent=2).encode()
        assert not verify_signature(pretty, sign(raw, KEY), KEY)

    @pytest.mark.parametrize(
        "header",
        [None, "", "abc", "0" * 63, "0" * 65, "z" * 64, "0x" + "0" * 62, "é" * 64],
        ids=["missing", "empty", "short", "odd-length", "too-long", "non-hex", "prefixed", "non-ascii"],
    )
    def test_verify_signature_returns_false_for_malformed_header(self, header: str | None) -> None:
        assert verify_signature(b"{}", header, KEY) is False

    def test_verify_signature_with_an_empty_key_verifies_nothing(self) -> None:
        raw = compact(buygoods())
        assert verify_signature(raw, sign(raw, ""), "") is False


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[case["file"] for case in VECTORS["cases"]])
class TestSignatureVectors:
    """Kopo Kopo's 12 signed bodies: the exact bytes verify; any change to bytes, key or header does not."""

    def raw(self, case: dict) -> bytes:
        return (SHARED_FIXTURES / "webhooks" / case["file"]).read_bytes()

    def test_sign_reproduces_the_vector(self, case: dict) -> None:
        assert sign(self.raw(case), VECTOR_KEY) == case["signature"]
        assert verify_signature(self.raw(case), case["signature"], VECTOR_KEY) is True

    def test_a_tampered_byte_fails(self, case: dict) -> None:
        raw = bytearray(self.raw(case))
        middle = len(raw) // 2
        raw[middle] = ord("0") if raw[middle] != ord("0") else ord("1")
        assert verify_signature(bytes(raw), case["signature"], VECTOR_KEY) is False

    def test_the_wrong_key_fails(self, case: dict) -> None:
        assert verify_signature(self.raw(case), case["signature"], VECTOR_KEY[:-1]) is False
        assert verify_signature(self.raw(case), case["signature"], KEY) is False

    @pytest.mark.parametrize(
        "reserialise",
        [
            lambda body: json.dumps(body).encode(),
            lambda body: json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
            lambda body: json.dumps(body, indent=2).encode(),
        ],
        ids=["spaced", "sorted-keys", "indented"],
    )
    def test_reserialised_json_fails_unless_the_bytes_are_identical(self, case: dict, reserialise) -> None:
        again = reserialise(json.loads(self.raw(case)))
        assert verify_signature(again, case["signature"], VECTOR_KEY) is (again == self.raw(case))

    @pytest.mark.parametrize(
        "header",
        [None, "", "   ", "9a49", "0" * 63, "g" * 64, "0x" + "0" * 62],
        ids=["missing", "empty", "blank", "short", "odd-length", "non-hex", "prefixed"],
    )
    def test_missing_or_malformed_header_is_false_not_an_error(self, case: dict, header: str | None) -> None:
        assert verify_signature(self.raw(case), header, VECTOR_KEY) is False

    def test_a_truncated_signature_fails(self, case: dict) -> None:
        assert verify_signature(self.raw(case), case["signature"][:-2], VECTOR_KEY) is False


class TestParseWebhooks:
    def test_parse_buygoods_received_types_the_resource(self) -> None:
        event = parse(compact(buygoods()))
        assert isinstance(event, WebhookEvent)
        assert isinstance(event.resource, BuygoodsTransaction)
        assert event.resource.amount == Decimal("1250.50")
        assert event.resource.reference == "QKL1AB2CD3"
        assert event.resource.origination_time == datetime(2026, 11, 20, 7, 43, 19, tzinfo=timezone.utc)
        assert event.resource.hashed_sender_phone is None
        assert event.links["resource"].endswith("/financial_transaction/res-1")

    def test_parse_amount_as_number(self) -> None:
        event = parse(buygoods(amount=780))
        assert event.resource.amount == Decimal("780")

    def test_parse_optional_fields_present(self) -> None:
        event = parse(
            buygoods(
                "buygoods_transaction_reversed",
                status="Reversed",
                hashed_sender_phone="a" * 64,
                reversal_time="2026-11-21T08:00:00+03:00",
            )
        )
        assert event.resource.status == "Reversed"
        assert event.resource.hashed_sender_phone == "a" * 64
        assert event.resource.reversal_time == datetime(2026, 11, 21, 5, 0, tzinfo=timezone.utc)

    def test_parse_b2b_and_m2m(self) -> None:
        b2b = buygoods("b2b_transaction_received", sending_till="890642", status="Complete")
        m2m = buygoods("m2m_transaction_received", sending_merchant="Jane Flowers")
        del m2m["event"]["resource"]["reference"]
        parsed_b2b, parsed_m2m = parse(b2b), parse(m2m)
        assert isinstance(parsed_b2b.resource, B2BTransaction) and parsed_b2b.resource.sending_till == "890642"
        assert isinstance(parsed_m2m.resource, M2MTransaction) and parsed_m2m.resource.reference is None
        assert parsed_m2m.resource.sending_merchant == "Jane Flowers"

    def test_parse_settlement_transfer_completed_to_a_wallet(self) -> None:
        body = {
            "topic": "settlement_transfer_completed",
            "id": "evt-9",
            "created_at": "2026-11-20T11:00:08+03:00",
            "event": {
                "type": "Settlement Transfer",
                "resource": {
                    "id": "tb-1",
                    "amount": 5000,
                    "status": "Transferred",
                    "currency": "KES",
                    "origination_time": "2026-11-20T10:57:58+03:00",
                    "destination": {
                        "type": "Mobile Wallet",
                        "resource": {"reference": "w-1", "first_name": "A", "last_name": "B",
                                     "phone_number": "+254712345678", "network": "Safaricom"},
                    },
                    "disbursements": [{"amount": "5000.0", "status": "Transferred",
                                       "origination_time": "2026-11-20T10:57:58+03:00",
                                       "transaction_reference": "QWE123"}],
                },
            },
        }
        event = parse(body)
        assert isinstance(event.resource, SettlementTransferCompleted)
        assert event.resource.destination_type == "Mobile Wallet"
        assert event.resource.destination_reference == "w-1"
        assert event.resource.disbursements[0].transaction_reference == "QWE123"

    def test_parse_unknown_topic_is_kept_with_its_raw_resource(self) -> None:
        body = {"topic": "loyalty_points_awarded", "id": "evt-2", "created_at": "2026-11-20T10:00:00+03:00",
                "event": {"type": "Loyalty", "resource": {"points": 12}}}
        event = parse(body)
        assert isinstance(event, WebhookEvent)
        assert not event.is_known_topic
        assert event.resource is None and event.raw_resource == {"points": 12}

    def test_parse_null_resource(self) -> None:
        body = buygoods()
        body["event"]["resource"] = None
        assert parse(body).resource is None

    def test_parse_daraja_shape(self) -> None:
        body = {"TransactionType": "Buygoods", "TransID": "QKL9ZZ", "TransTime": "20261120104319",
                "TransAmount": "100.0", "BusinessShortCode": "514459", "BillRefNumber": "", "InvoiceNumber": "",
                "OrgAccountBalance": "", "ThirdPartyTransId": "tp-1", "MSISDN": "+254712345678",
                "FirstName": "Jane", "MiddleName": None, "LastName": "Doe"}
        event = parse(compact(body))
        assert isinstance(event, DarajaEvent)
        assert event.trans_time == datetime(2026, 11, 20, 7, 43, 19, tzinfo=timezone.utc)
        assert event.amount == Decimal("100.0")
        assert event.org_account_balance is None and event.bill_ref_number is None
        assert event.third_party_trans_id == "tp-1"


    @pytest.mark.parametrize(("balance", "read"), [(0, Decimal(0)), ("0.0", Decimal("0.0")), ("", None), (None, None)])
    def test_parse_daraja_balance_keeps_zero(self, balance: object, read: Decimal | None) -> None:
        body = {"TransactionType": "Buygoods", "TransID": "Q", "TransTime": "20261120104319", "TransAmount": "1",
                "OrgAccountBalance": balance}
        assert parse(body).org_account_balance == read


class TestParseResults:
    def test_parse_stk_success(self) -> None:
        resource = {"id": "r", "reference": "QKL1", "amount": "100.0", "currency": "KES", "till_number": "K514459",
                    "status": "Received", "origination_time": "2026-11-20T09:24:54+03:00",
                    "sender_phone_number": "+254712345678"}
        result = parse(stk_result("Success", resource=resource))
        assert isinstance(result, IncomingPayment)
        assert result.resource.reference == "QKL1" and result.resource.amount == Decimal("100.0")
        assert result.metadata == {"order": "A-17"}
        assert result.self_url == "https://k2.test/api/v1/incoming_payments/ip-1"

    def test_parse_stk_failure_with_errors_as_a_string(self) -> None:
        result = parse(stk_result("Failed", errors="Request cancelled by user"))
        assert result.status == "Failed" and result.resource is None
        assert result.errors == ["Request cancelled by user"]

    def test_parse_errors_as_a_list(self) -> None:
        result = parse(stk_result("Failed", errors=["Insufficient balance", {"code": 1}]))
        assert result.errors == ["Insufficient balance", "{'code': 1}"]

    def test_parse_payment_with_numeric_amount_and_absent_metadata(self) -> None:
        body = {"data": {"id": "p-1", "type": "payment", "attributes": {
            "status": "Processed", "created_at": "2026-11-20T10:00:17.827+03:00",
            "amount": {"currency": "KES", "value": 780},
            "transfer_batches": [{"status": "Transferred", "disbursements": [
                {"amount": "780.0", "status": "Transferred", "destination_type": "Mobile Wallet",
                 "destination_reference": "rec-1", "transaction_reference": "QAB12"}]}],
            "_links": {"self": "https://k2.test/api/v1/payments/p-1"}}}}
        result = parse(body)
        assert isinstance(result, Payment)
        assert result.amount.value == Decimal("780") and result.metadata == {}
        assert result.transfer_batches[0].disbursements[0].transaction_reference == "QAB12"

    def test_parse_blind_settlement_transfer_has_no_amount(self) -> None:
        body = {"data": {"id": "s-1", "type": "settlement_transfer", "attributes": {
            "status": "Processed", "amount": {"currency": None, "value": None}, "transfer_batches": []}}}
        result = parse(body)
        assert isinstance(result, SettlementTransfer) and result.amount.value is None

    def test_parse_send_money_scheduled_with_null_batches(self) -> None:
        body = {"data": {"id": "sm-1", "type": "send_money", "attributes": {
            "status": "Scheduled", "source_identifier": None, "destinations": None, "currency": "KES",
            "transfer_batches": None, "errors": None, "metadata": {"batch": 7}}}}
        result = parse(body)
        assert isinstance(result, SendMoney)
        assert result.transfer_batches == [] and result.metadata == {"batch": "7"}

    def test_parse_payment_link_amount_as_number(self) -> None:
        body = {"data": {"id": "pl-1", "type": "payment_link", "attributes": {
            "status": "Processed", "amount": 1000, "currency": "KES", "payment_link": {"status": "Paid"}}}}
        result = parse(body)
        assert isinstance(result, PaymentLink) and result.amount == Decimal("1000")

    def test_parse_unknown_result_type_is_kept_as_a_status_document(self) -> None:
        result = parse({"data": {"id": "x-1", "type": "loan_offer", "attributes": {"status": "Offered"}}})
        assert type(result) is StatusDocument and result.type == "loan_offer"


class TestParseErrors:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (b"{not json", "body is not JSON"),
            (b"[1, 2]", "body is not a JSON object"),
            (b"\xff\xfe", "body is not JSON"),
            (b'{"hello": "world"}', "neither a K2 webhook"),
        ],
    )
    def test_parse_refuses_what_is_not_a_k2_body(self, raw: bytes, message: str) -> None:
        with pytest.raises(InvalidPayloadError, match=message):
            parse(raw)

    def test_parse_names_the_bad_field_in_a_resource(self) -> None:
        with pytest.raises(InvalidPayloadError, match=r"event\.resource\.amount: .*not a number"):
            parse(buygoods(amount="lots"))

    def test_parse_names_a_missing_field(self) -> None:
        body = buygoods()
        del body["created_at"]
        with pytest.raises(InvalidPayloadError, match="created_at"):
            parse(body)

    def test_parse_names_a_bad_daraja_time(self) -> None:
        with pytest.raises(InvalidPayloadError, match="TransTime"):
            parse({"TransactionType": "Buygoods", "TransID": "Q", "TransTime": "yesterday", "TransAmount": "1"})

    def test_invalid_payload_error_is_a_value_error(self) -> None:
        assert issubclass(InvalidPayloadError, ValueError)
