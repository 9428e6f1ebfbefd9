"""The official Kopo Kopo SDKs drive a running k2sim end to end (issue 3).

Each SDK runs in its own environment (made by tests/sdk/setup_sdks.sh) through a driver script in
tests/sdk/ that prints one JSON line; k2sim runs in this process and posts its signed callbacks to a
loopback receiver here, which keeps the exact bytes so each SDK's own verifier can judge them:
Python `ResultHandler.process` in a Flask test request, Node `Webhooks.webhookHandler` with a fake req/res.
One driver run per SDK (module fixtures) feeds one test per flow group.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from k2sim import RunningSim, SimConfig, start_in_thread

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / ".sdk"
DRIVERS = REPO / "tests" / "sdk"
CLIENT_ID = "sdk-compat-client"
CLIENT_SECRET = "sdk-compat-secret"
API_KEY = "sdk-compat-api-key-5f1c"
TILL = "K000000"
PHONE = "+254999999999"
WAIT_S = 10.0
# Long enough that each SDK's first status GET sees the pending document, short enough to keep the file fast.
RESOLVE_DELAY_S = 0.3
PENDING = frozenset({"Pending", "Scheduled", "Received"})


# ---------------------------------------------------------------- loopback receiver


@dataclass(frozen=True)
class Delivery:
    """One POST as it reached us: path, headers (lower-cased names) and the exact body bytes."""

    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def signature(self) -> str | None:
        return self.headers.get("x-kopokopo-signature")

    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """A threaded http.server on loopback that records every POST and answers 200 `{}`."""

    server: ThreadingHTTPServer
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]

    def find(self, path: str, match: Callable[[Any], bool], *, timeout_s: float = WAIT_S) -> Delivery | None:
        """The first delivery to `path` whose parsed body satisfies `match`, polling up to the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            for d in self.on(path):
                try:
                    if match(d.json()):
                        return d
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def wait_for(self, path: str, match: Callable[[Any], bool], *, what: str) -> Delivery:
        """As `find`, failing the test when nothing matched."""
        found = self.find(path, match)
        if found is None:
            seen = [d.raw[:200] for d in self.on(path)]
            pytest.fail(f"no callback for {what} reached {path} within {WAIT_S}s; got {seen}")
        return found


def _make_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            delivery = Delivery(
                path=urlsplit(self.path).path, headers={k.lower(): v for k, v in self.headers.items()}, raw=raw
            )
            with receiver.lock:
                receiver.deliveries.append(delivery)
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server=server)
    return receiver


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sdk_envs() -> Path:
    """The SDK environments; setup_sdks.sh is idempotent, so this is instant once they exist."""
    proc = subprocess.run(
        ["bash", str(DRIVERS / "setup_sdks.sh")], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"setup_sdks.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return SDK_DIR


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = _make_receiver()
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def start_sim() -> Iterator[Callable[[], RunningSim]]:
    """Starts one k2sim per SDK: a v1 blind transfer sweeps the whole balance, so SDKs must not share one."""
    running: list[RunningSim] = []

    def start() -> RunningSim:
        server = start_in_thread(SimConfig(
            callback_delay_s=RESOLVE_DELAY_S, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_key=API_KEY, till_number=TILL,
        ))
        running.append(server)
        return server

    try:
        yield start
    finally:
        for server in running:
            server.stop()


def _driver_env() -> dict[str, str]:
    """The machine's environment without proxies (everything here is loopback) and with the Node SDK path."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["K2_NODE_SDK_DIR"] = str(SDK_DIR / "node")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_driver(sdk: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run one driver as a subprocess in its SDK's environment; returns its JSON result line."""
    cmd = {
        "py-v1": [str(SDK_DIR / "py-v1" / "bin" / "python"), str(DRIVERS / "drive_py_v1.py")],
        "py-v2": [str(SDK_DIR / "py-v2" / "bin" / "python"), str(DRIVERS / "drive_py_v2.py")],
        "node": ["node", str(DRIVERS / "drive_node.js")],
    }[sdk]
    proc = subprocess.run(
        cmd, input=json.dumps(request), capture_output=True, text=True, timeout=120, env=_driver_env(), cwd=REPO
    )
    assert proc.returncode == 0, f"{sdk} driver exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"{sdk} driver printed nothing:\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1])


def base_request(sim: RunningSim, receiver: Receiver, sdk: str) -> dict[str, Any]:
    return {
        "base_url": sim.base_url, "client_id": sim.client_id, "client_secret": sim.client_secret,
        "api_key": API_KEY, "callback_url": f"{receiver.url}/cb/{sdk}", "till_number": TILL, "phone_number": PHONE,
    }


@dataclass
class SdkRun:
    """One SDK's flows against the sim, the callbacks it got back, and its verifier's verdicts."""

    sdk: str
    sim: RunningSim
    receiver: Receiver
    flows: dict[str, dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/cb/{self.sdk}"

    def flow(self, name: str) -> dict[str, Any]:
        """The flow's record, failing the test with the SDK's own error when the flow raised."""
        rec = self.flows.get(name)
        assert rec is not None, f"{self.sdk}: flow {name} did not run"
        assert rec["ok"], f"{self.sdk}: flow {name} failed: {rec['error']}\n{rec.get('trace', '')}"
        return rec

    def result_callback(self, location: str, *, what: str) -> Delivery:
        """The result callback whose `data.id` is the resource at `location`."""
        rid = location.rstrip("/").rsplit("/", 1)[-1]
        return self.receiver.wait_for(self.path, lambda b: b["data"]["id"] == rid, what=f"{self.sdk} {what}")

    def verify(self, deliveries: list[Delivery]) -> list[dict[str, Any]]:
        """Each delivery to the SDK's verifier, exact bytes and header, in a driver subprocess."""
        items = [{"raw_b64": base64.b64encode(d.raw).decode(), "signature": d.signature} for d in deliveries]
        req = base_request(self.sim, self.receiver, self.sdk) | {"mode": "verify", "items": items}
        verdicts = run_driver(self.sdk, req)["verified"]
        assert len(verdicts) == len(items)
        return verdicts


# ---------------------------------------------------------------- assertions shared by the SDKs


def assert_location(sim: RunningSim, location: Any, prefix: str) -> str:
    """Absolute, on the sim's own host, under the resource's collection path."""
    assert isinstance(location, str), f"no Location: {location!r}"
    assert location.startswith(f"{sim.base_url}{prefix}/"), f"{location!r} is not under {sim.base_url}{prefix}/"
    assert len(location) > len(f"{sim.base_url}{prefix}/")
    return location


def assert_final(rec: dict[str, Any], kind: str, status: str) -> dict[str, Any]:
    """The polled status document reached `status` and has the documented envelope."""
    doc = rec["doc"]
    assert doc["data"]["type"] == kind, doc
    assert doc["data"]["attributes"]["status"] == status, f"trail {rec['trail']}: {doc}"
    assert set(rec["trail"][:-1]) <= PENDING, f"unexpected intermediate statuses {rec['trail']}"
    assert rec["location"].rstrip("/").endswith(doc["data"]["id"]), (rec["location"], doc["data"]["id"])
    return doc


def assert_signed_callback(run: SdkRun, location: str, kind: str, status: str, *, what: str) -> Delivery:
    """The result callback arrived signed, and its body is the final status document."""
    delivery = run.result_callback(location, what=what)
    body = delivery.json()
    assert body["data"]["type"] == kind, body
    assert body["data"]["attributes"]["status"] == status, body
    assert delivery.signature is not None and len(delivery.signature) == 64, delivery.headers
    return delivery


def assert_settled(
    run: SdkRun, flow: str, prefix: str, kind: str, status: str, *, what: str
) -> tuple[dict[str, Any], dict[str, Any], Delivery]:
    """A create-then-poll flow: its Location is under `prefix`, it reached `status`, and the result came back
    signed. Returns the flow's record, the final document and the callback."""
    rec = run.flow(flow)
    assert_location(run.sim, rec["location"], prefix)
    doc = assert_final(rec, kind, status)
    return rec, doc, assert_signed_callback(run, rec["location"], kind, status, what=what)


def tampered(delivery: Delivery) -> Delivery:
    """Same header, one character of the first `"id"` value changed: still valid JSON, same length."""
    raw = delivery.raw
    at = raw.index(b'"id":"') + len(b'"id":"')
    swapped = b"0" if raw[at:at + 1] != b"0" else b"1"
    return Delivery(delivery.path, delivery.headers, raw[:at] + swapped + raw[at + 1:])


def kind_of(delivery: Delivery) -> str:
    """A webhook's topic or a result callback's data.type."""
    body = delivery.json()
    return body.get("topic") or body["data"]["type"]


def assert_verifier(run: SdkRun, genuine: list[Delivery]) -> dict[str, dict[str, Any]]:
    """Every genuine callback is accepted with its body intact; tampered or unsigned copies are rejected.
    Returns the verdict on one genuine callback of each kind."""
    assert genuine, "no callbacks to verify"
    kinds = {kind_of(d) for d in genuine}
    assert len(kinds) >= 3, f"expected result callbacks of several kinds, got {kinds}"
    fakes = [tampered(d) for d in genuine]
    fakes.append(Delivery(genuine[0].path, {}, genuine[0].raw))  # no X-KopoKopo-Signature at all
    verdicts = run.verify(genuine + fakes)
    for d, v in zip(genuine, verdicts[: len(genuine)]):
        assert v["accepted"], f"{run.sdk} verifier rejected a genuine k2sim callback: {v['error']}\n{d.raw[:300]!r}"
        assert v["body"] == d.json()
    for d, v in zip(fakes, verdicts[len(genuine):]):
        assert not v["accepted"], f"{run.sdk} verifier accepted a forged body: {d.raw[:300]!r}"
    return {kind_of(d): v for d, v in zip(genuine, verdicts)}


def assert_decomposes(verdicts: dict[str, dict[str, Any]]) -> None:
    """`payload_decomposer.decompose` reads k2sim's STK result and buygoods webhook, the two kinds it reads
    in Kopo Kopo's own fixtures too (it KeyErrors on the others' real payloads as well: API.md section 11)."""
    for kind, status in (("incoming_payment", "Success"), ("buygoods_transaction_received", "Received")):
        assert kind in verdicts, f"no {kind} callback among {sorted(verdicts)}"
        assert verdicts[kind]["decomposed"] == {"status": status, "error": None}, verdicts[kind]


def assert_sim_log(
    run: SdkRun, posts: set[str], *, expected_errors: frozenset[tuple[str, str, int]] = frozenset()
) -> None:
    """k2sim's own log: the SDK POSTed to each of `posts`, every request got a 2xx unless listed as
    (method, path, status), and every callback k2sim logged as delivered reached us with its body and signature."""
    drained = httpx.post(f"{run.sim.base_url}/sim/drain", params={"timeout": WAIT_S}, timeout=WAIT_S + 5)
    assert drained.status_code == 200 and drained.json()["settled"], drained.text
    requests = httpx.get(f"{run.sim.base_url}/sim/requests", timeout=5).json()
    seen_posts = {r["path"] for r in requests if r["method"] == "POST"}
    assert posts <= seen_posts, f"{run.sdk} never POSTed to {sorted(posts - seen_posts)}"
    errors = {(r["method"], r["path"], r["status"]) for r in requests if not 200 <= (r["status"] or 0) < 300}
    assert errors == expected_errors, f"{run.sdk}: unexpected answers {errors}"
    sent = httpx.get(f"{run.sim.base_url}/sim/deliveries", timeout=5).json()
    ours = [d for d in sent if urlsplit(d["url"]).path == run.path]
    assert ours and all(d["state"] == "delivered" for d in ours), [(d["topic"], d["state"]) for d in ours]
    received = {(d.signature, d.raw) for d in run.receiver.on(run.path)}
    for d in ours:
        matches = [raw for sig, raw in received if sig == d["signature"]]
        assert matches and json.loads(matches[0]) == d["body"], f"{d['topic']} {d['id']} not received as sent"


def webhook_event_id(run: SdkRun) -> str | None:
    """The id of a buygoods_transaction_received webhook delivered to this SDK's receiver path, if any."""
    hook = run.receiver.find(run.path, lambda b: b.get("topic") == "buygoods_transaction_received")
    return None if hook is None else hook.json()["id"]


def start_run(sdk: str, sim: RunningSim, receiver: Receiver, flows: list[str], version: str) -> SdkRun:
    """Run the driver's flows once for a whole test class."""
    out = run_driver(sdk, base_request(sim, receiver, sdk) | {"mode": "flows", "flows": flows})
    assert out["version"] == version, out
    return SdkRun(sdk=sdk, sim=sim, receiver=receiver, flows=out["flows"])


# ---------------------------------------------------------------- SMS notifications (v1: Python 1.2.7 and Node)


def add_sms_flow(run: SdkRun) -> None:
    """SMS notifications refer to a webhook event: the buygoods webhook that the STK payment fired to the
    SDK's own subscription. Runs the driver's "sms" flow with that event's id."""
    event_id = webhook_event_id(run)
    if event_id is None:
        seen = [d.raw[:120] for d in run.receiver.on(run.path)]
        run.flows["sms"] = {"ok": False, "error": f"no buygoods_transaction_received webhook reached {run.path}: {seen}"}
        return
    out = run_driver(run.sdk, base_request(run.sim, run.receiver, run.sdk)
                     | {"mode": "flows", "flows": ["sms"], "webhook_event_reference": event_id})
    run.flows["sms"] = out["flows"]["sms"]
    run.extra["webhook_event_reference"] = event_id


def assert_sms(run: SdkRun) -> None:
    """The notification settles, names the webhook event it was about, and its result comes back signed."""
    _, doc, _ = assert_settled(run, "sms", "/api/v1/transaction_sms_notifications", "transaction_sms_notification",
                               "Success", what="SMS result")
    assert doc["data"]["attributes"]["webhook_event_reference"] == run.extra["webhook_event_reference"]


# ---------------------------------------------------------------- k2-connect 1.2.7 (Python, v1 API)


@pytest.fixture(scope="module")
def py_v1(sdk_envs: Path, start_sim: Callable[[], RunningSim], receiver: Receiver) -> SdkRun:
    run = start_run("py-v1", start_sim(), receiver, ["token", "webhooks", "stk", "pay", "transfer", "polling"], "1.2.7")
    add_sms_flow(run)
    return run


class TestPythonV1:
    """k2-connect 1.2.7: module-level services after `k2connect.initialize(..., base_url + "/")`."""

    def test_token(self, py_v1: SdkRun) -> None:
        rec = py_v1.flow("token")
        assert rec["has_token"]
        assert rec["response"]["token_type"] == "Bearer"
        assert rec["response"]["expires_in"] == 3600

    def test_webhook_subscription(self, py_v1: SdkRun) -> None:
        rec = py_v1.flow("webhooks")
        assert_location(py_v1.sim, rec["location"], "/api/v1/webhook_subscriptions")
        attrs = rec["doc"]["data"]["attributes"]
        assert rec["doc"]["data"]["type"] == "webhook_subscription"
        assert attrs["event_type"] == "buygoods_transaction_received"
        assert attrs["webhook_uri"] == f"{py_v1.receiver.url}{py_v1.path}"
        assert_location(py_v1.sim, rec["company_location"], "/api/v1/webhook_subscriptions")
        assert rec["company_doc"]["data"]["attributes"]["scope"].lower() == "company"

    def test_stk_push_and_status(self, py_v1: SdkRun) -> None:
        rec, doc, cb = assert_settled(py_v1, "stk", "/api/v1/incoming_payments", "incoming_payment", "Success",
                                      what="STK result")
        assert rec["trail"][0] == "Pending", rec["trail"]  # the SDK's first GET read the pending document
        resource = doc["data"]["attributes"]["event"]["resource"]
        assert resource["reference"] and resource["currency"] == "KES"
        assert cb.json() == doc

    def test_pay_recipient_payment_and_status(self, py_v1: SdkRun) -> None:
        rec, doc, cb = assert_settled(py_v1, "pay", "/api/v1/payments", "payment", "Processed", what="payment result")
        assert_location(py_v1.sim, rec["recipient_location"], "/api/v1/pay_recipients")
        assert rec["recipient_doc"]["data"]["type"] == "pay_recipient"
        assert cb.json() == doc

    def test_settlement_account_transfer_and_status(self, py_v1: SdkRun) -> None:
        rec, _, _ = assert_settled(py_v1, "transfer", "/api/v1/settlement_transfers", "settlement_transfer",
                                   "Processed", what="targeted transfer")
        assert_location(py_v1.sim, rec["account_location"], "/api/v1/merchant_bank_accounts")
        assert rec["account_doc"]["data"]["type"] == "merchant_bank_account"
        assert_location(py_v1.sim, rec["wallet_location"], "/api/v1/merchant_wallets")
        assert_location(py_v1.sim, rec["blind_location"], "/api/v1/settlement_transfers")
        assert rec["blind_doc"]["data"]["attributes"]["status"] == "Processed", rec["blind_trail"]
        assert_signed_callback(py_v1, rec["blind_location"], "settlement_transfer", "Processed", what="blind transfer")

    def test_polling(self, py_v1: SdkRun) -> None:
        assert_settled(py_v1, "polling", "/api/v1/polling", "polling", "Success", what="polling result")

    def test_sms_notification(self, py_v1: SdkRun) -> None:
        assert_sms(py_v1)

    def test_result_handler_verifies_k2sim_callbacks(self, py_v1: SdkRun) -> None:
        assert_decomposes(assert_verifier(py_v1, py_v1.receiver.on(py_v1.path)))

    def test_k2sim_answered_every_request(self, py_v1: SdkRun) -> None:
        v1 = "/api/v1/"
        assert_sim_log(py_v1, {"/oauth/token"} | {v1 + p for p in (
            "webhook_subscriptions", "incoming_payments", "pay_recipients", "payments", "merchant_bank_accounts",
            "merchant_wallets", "settlement_transfers", "polling", "transaction_sms_notifications")})


# ---------------------------------------------------------------- k2-connect 2.0.0 (Python, v2 API)


@pytest.fixture(scope="module")
def py_v2(sdk_envs: Path, start_sim: Callable[[], RunningSim], receiver: Receiver) -> SdkRun:
    sim = start_sim()
    flows = ["token", "webhooks", "stk", "send_money", "external_recipient", "transfer", "polling", "reversal",
             "payment_link", "token_revoke"]
    return start_run("py-v2", sim, receiver, flows, "2.0.0")


class TestPythonV2:
    """k2-connect 2.0.0: service factories taking the access token."""

    def test_token_introspect_info_and_revoke(self, py_v2: SdkRun) -> None:
        rec = py_v2.flow("token")
        assert rec["has_token"] and rec["response"]["expires_in"] == 3600
        assert rec["introspect"]["active"] is True
        assert rec["introspect"]["client_id"] == CLIENT_ID
        assert 0 < rec["info"]["expires_in"] <= 3600
        assert rec["info"]["application"]["uid"] == CLIENT_ID
        revoke = py_v2.flow("token_revoke")
        assert revoke["distinct_from_first"]
        assert revoke["revoke"] == {}
        assert revoke["introspect_after"]["active"] is False
        assert revoke["revoked_token_error"] is not None and "401" in revoke["revoked_token_error"]
        assert revoke["first_token_still_works"]

    def test_webhook_subscription(self, py_v2: SdkRun) -> None:
        rec = py_v2.flow("webhooks")
        assert_location(py_v2.sim, rec["location"], "/api/v2/webhook_subscriptions")
        assert rec["doc"]["data"]["type"] == "webhook_subscription"
        assert rec["doc"]["data"]["attributes"]["webhook_uri"] == f"{py_v2.receiver.url}{py_v2.path}"
        assert_location(py_v2.sim, rec["company_location"], "/api/v2/webhook_subscriptions")

    def test_stk_push_and_status(self, py_v2: SdkRun) -> None:
        rec, doc, cb = assert_settled(py_v2, "stk", "/api/v2/incoming_payments", "incoming_payment", "Success",
                                      what="STK result")
        assert rec["trail"][0] == "Pending", rec["trail"]  # the SDK's first GET read the pending document
        assert rec["by_location"] == doc  # by id (view_incoming_payment) and by Location agree
        assert cb.json() == doc

    def test_send_money(self, py_v2: SdkRun) -> None:
        _, doc, cb = assert_settled(py_v2, "send_money", "/api/v2/send_money", "send_money", "Processed",
                                    what="send_money result")
        legs = [d for b in doc["data"]["attributes"]["transfer_batches"] for d in b["disbursements"]]
        assert len(legs) == 2, legs
        assert cb.json() == doc

    def test_external_recipient(self, py_v2: SdkRun) -> None:
        rec = py_v2.flow("external_recipient")
        assert_location(py_v2.sim, rec["location"], "/api/v2/external_recipients")
        assert rec["doc"]["data"]["id"] == rec["location"].rsplit("/", 1)[-1]
        assert_location(py_v2.sim, rec["paybill_location"], "/api/v2/external_recipients")

    def test_transfer_account_and_send_money_to_it(self, py_v2: SdkRun) -> None:
        rec, _, _ = assert_settled(py_v2, "transfer", "/api/v2/send_money", "send_money", "Processed",
                                   what="transfer via send_money")
        assert_location(py_v2.sim, rec["account_location"], "/api/v2/merchant_bank_accounts")
        assert rec["account_doc"]["data"]["type"] == "merchant_bank_account"

    def test_polling(self, py_v2: SdkRun) -> None:
        assert_settled(py_v2, "polling", "/api/v2/polling", "polling", "Success", what="polling result")

    def test_reversal(self, py_v2: SdkRun) -> None:
        rec, doc, _ = assert_settled(py_v2, "reversal", "/api/v2/reversals", "reversal", "Processed",
                                     what="reversal result")
        assert doc["data"]["attributes"]["transaction_reference"] == rec["transaction_reference"]

    def test_payment_link(self, py_v2: SdkRun) -> None:
        rec = py_v2.flow("payment_link")
        assert_location(py_v2.sim, rec["location"], "/api/v2/payment_links")
        doc = assert_final(rec, "payment_link", "Processed")
        assert doc["data"]["attributes"]["payment_reference"] == "INV-42"
        link = doc["data"]["attributes"]["payment_link"]
        assert link["link"].startswith("http") and link["payment_link_status"] == "Active"
        assert rec["after_cancel"]["data"]["attributes"]["payment_link"]["payment_link_status"] == "Cancelled"

    def test_result_handler_verifies_k2sim_callbacks(self, py_v2: SdkRun) -> None:
        assert_decomposes(assert_verifier(py_v2, py_v2.receiver.on(py_v2.path)))

    def test_k2sim_answered_every_request(self, py_v2: SdkRun) -> None:
        v2 = "/api/v2/"
        assert_sim_log(
            py_v2,
            {"/oauth/token", "/oauth/revoke", "/oauth/introspect"} | {v2 + p for p in (
                "webhook_subscriptions", "incoming_payments", "send_money", "external_recipients",
                "merchant_bank_accounts", "polling", "reversals", "payment_links")},
            expected_errors=frozenset({("GET", "/oauth/token/info", 401)}),  # the revoked token, on purpose
        )


# ---------------------------------------------------------------- k2-connect-node 1.3.0 (v1 API)


@pytest.fixture(scope="module")
def node(sdk_envs: Path, start_sim: Callable[[], RunningSim], receiver: Receiver) -> SdkRun:
    run = start_run("node", start_sim(), receiver, ["token", "webhooks", "stk", "pay", "transfer", "polling"], "1.3.0")
    add_sms_flow(run)
    return run


class TestNode:
    """k2-connect-node 1.3.0: `require('k2-connect-node')({clientId, clientSecret, apiKey, baseUrl})`."""

    def test_token(self, node: SdkRun) -> None:
        rec = node.flow("token")
        assert rec["has_token"] and rec["response"]["token_type"] == "Bearer"
        assert rec["info"]["application"]["uid"] == CLIENT_ID

    def test_webhook_subscription(self, node: SdkRun) -> None:
        rec = node.flow("webhooks")
        assert_location(node.sim, rec["location"], "/api/v1/webhook_subscriptions")
        assert rec["doc"]["data"]["attributes"]["webhook_uri"] == f"{node.receiver.url}{node.path}"
        assert_location(node.sim, rec["company_location"], "/api/v1/webhook_subscriptions")

    def test_stk_push_and_status(self, node: SdkRun) -> None:
        rec, doc, cb = assert_settled(node, "stk", "/api/v1/incoming_payments", "incoming_payment", "Success",
                                      what="STK result")
        assert rec["trail"][0] == "Pending", rec["trail"]  # the SDK's first GET read the pending document
        assert cb.json() == doc

    def test_pay(self, node: SdkRun) -> None:
        rec, _, _ = assert_settled(node, "pay", "/api/v1/payments", "payment", "Processed", what="payment result")
        assert_location(node.sim, rec["recipient_location"], "/api/v1/pay_recipients")

    def test_transfer(self, node: SdkRun) -> None:
        rec, _, _ = assert_settled(node, "transfer", "/api/v1/settlement_transfers", "settlement_transfer",
                                   "Processed", what="targeted transfer")
        assert_location(node.sim, rec["account_location"], "/api/v1/merchant_bank_accounts")
        assert_location(node.sim, rec["wallet_location"], "/api/v1/merchant_wallets")
        assert rec["blind_doc"]["data"]["attributes"]["status"] == "Processed", rec["blind_trail"]
        assert_signed_callback(node, rec["blind_location"], "settlement_transfer", "Processed", what="blind transfer")

    def test_polling(self, node: SdkRun) -> None:
        assert_settled(node, "polling", "/api/v1/polling", "polling", "Success", what="polling result")

    def test_sms_notification(self, node: SdkRun) -> None:
        assert_sms(node)

    def test_webhook_handler_verifies_k2sim_callbacks(self, node: SdkRun) -> None:
        assert_verifier(node, node.receiver.on(node.path))

    def test_k2sim_answered_every_request(self, node: SdkRun) -> None:
        v1 = "/api/v1/"
        assert_sim_log(node, {"/oauth/token", "/oauth/introspect"} | {v1 + p for p in (
            "webhook_subscriptions", "incoming_payments", "pay_recipients", "payments", "merchant_bank_accounts",
            "merchant_wallets", "settlement_transfers", "polling", "transaction_sms_notifications")})
