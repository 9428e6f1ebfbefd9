"""Kopo Kopo's own bodies and signatures, read in place from ../shared/k2/fixtures, against k2 and k2sim."""
from __future__ import annotations

import json
from typing import Any

import pytest

from k2.types import DarajaEvent, StatusDocument, WebhookEvent
from k2sim import delivery as k2sim_delivery
from k2sim import payloads as k2sim_payloads
from k2.webhooks import parse, verify_signature

from tests.conftest import SHARED_FIXTURES

if not SHARED_FIXTURES.is_dir():
    pytest.fail(f"{SHARED_FIXTURES} is missing: conformance reads Kopo Kopo's fixtures there", pytrace=False)
SIGNATURES = json.loads((SHARED_FIXTURES / "webhooks" / "signatures.json").read_text())
CASES = SIGNATURES["cases"]


def status_documents(node: Any, where: str = "") -> list[tuple[str, dict]]:
    """Every `{"data": {"type", "attributes"}}` inside a response sample file."""
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "attributes" in data:
            return [(where or "/", node)]
        return [found for key, value in node.items() for found in status_documents(value, f"{where}/{key}")]
    return []


RESPONSE_DOCUMENTS = [
    pytest.param(document, id=f"{path.name}{where}")
    for path in sorted((SHARED_FIXTURES / "responses").glob("*.json"))
    for where, document in status_documents(json.loads(path.read_text()))
]


def test_there_are_twelve_signed_vectors() -> None:
    assert len(CASES) == 12


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_k2_verifies_every_signed_vector(case: dict) -> None:
    raw = (SHARED_FIXTURES / "webhooks" / case["file"]).read_bytes()
    assert verify_signature(raw, case["signature"], SIGNATURES["api_key"])
    assert not verify_signature(raw + b" ", case["signature"], SIGNATURES["api_key"])


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_k2_parses_every_webhook_body(case: dict) -> None:
    raw = (SHARED_FIXTURES / "webhooks" / case["file"]).read_bytes()
    event = parse(raw)
    body = json.loads(raw)
    if "topic" in body:
        assert isinstance(event, WebhookEvent) and event.topic == case["kind"] == body["topic"]
        assert event.resource is not None and event.is_known_topic
    elif "TransactionType" in body:
        assert isinstance(event, DarajaEvent) and event.trans_id == body["TransID"]
    else:
        assert isinstance(event, StatusDocument) and event.type == body["data"]["type"]
        assert event.status == body["data"]["attributes"]["status"]


@pytest.mark.parametrize("document", RESPONSE_DOCUMENTS)
def test_k2_parses_every_status_document(document: dict) -> None:
    parsed = parse(document)
    assert type(parsed) is not StatusDocument, "a known result type fell back to the generic model"
    assert parsed.id == document["data"]["id"]
    assert parsed.status == document["data"]["attributes"]["status"]


def test_every_response_sample_with_a_status_document_was_found() -> None:
    assert len(RESPONSE_DOCUMENTS) >= 13


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_k2sim_serialises_and_signs_every_vector_byte_for_byte(case: dict) -> None:
    """k2sim's serialiser gives back the exact wire bytes, and its signer the expected signature."""
    raw = (SHARED_FIXTURES / "webhooks" / case["file"]).read_bytes()
    assert k2sim_payloads.dumps(json.loads(raw)) == raw
    assert k2sim_delivery.sign(raw, SIGNATURES["api_key"]) == case["signature"]
