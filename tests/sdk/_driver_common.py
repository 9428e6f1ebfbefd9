"""Helpers shared by the Python SDK drivers; stdlib at import (k2connect and Flask are imported where
used), since they run inside the SDKs' own venvs.

A driver reads one JSON request on stdin and prints one JSON line on stdout. The SDKs print to
stdout themselves (ResultHandler prints on a bad signature), so SDK calls run with stdout sent to
stderr and only the final line is written to the real stdout.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any

__all__ = [
    "PENDING",
    "Recorder",
    "emit",
    "error_text",
    "initialize",
    "main",
    "poll_final",
    "read_request",
    "run_verify",
    "sdk_result",
    "sdk_stdout_to_stderr",
    "status_of",
    "verify_with_flask",
]

# Statuses that mean "not settled yet"; anything else (Success, Failed, Processed, ...) is final.
PENDING = frozenset({"Pending", "Scheduled", "Received", "Processing", "Queued", "Initiated"})


def read_request() -> dict[str, Any]:
    """The driver's whole input: one JSON object on stdin."""
    return json.loads(sys.stdin.read())


def emit(result: dict[str, Any], real_stdout: Any) -> None:
    """Print the one result line the test parses (the last stdout line)."""
    real_stdout.write("\n" + json.dumps(result, default=str) + "\n")
    real_stdout.flush()


@contextlib.contextmanager
def sdk_stdout_to_stderr() -> Iterator[None]:
    """Keep the SDK's own prints off the result channel."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def status_of(doc: Any) -> str | None:
    """`data.attributes.status` of a K2 status document, or None when the shape is off."""
    try:
        return doc["data"]["attributes"]["status"]
    except (KeyError, TypeError):
        return None


def poll_final(fetch: Callable[[], Any], *, timeout_s: float = 10.0, interval_s: float = 0.05) -> dict[str, Any]:
    """GET a resource until its status is final or the timeout passes; returns the last document and the trail."""
    deadline = time.monotonic() + timeout_s
    trail: list[str | None] = []
    while True:
        doc = fetch()
        status = status_of(doc)
        if not trail or trail[-1] != status:
            trail.append(status)
        if (status is not None and status not in PENDING) or time.monotonic() >= deadline:
            return {"doc": doc, "trail": trail}
        time.sleep(interval_s)


class Recorder:
    """Collects one record per flow; a failing flow keeps its error and the driver goes on to the next."""

    def __init__(self) -> None:
        self.flows: dict[str, dict[str, Any]] = {}

    @contextlib.contextmanager
    def flow(self, name: str) -> Iterator[dict[str, Any]]:
        rec: dict[str, Any] = {"ok": False, "error": None}
        self.flows[name] = rec
        try:
            yield rec
        except Exception as exc:  # the SDKs raise anything from K2Error to KeyError and TypeError
            rec["error"] = f"{type(exc).__name__}: {exc}"
            rec["trace"] = traceback.format_exc(limit=-4)
        else:
            rec["ok"] = True


def error_text(exc: BaseException) -> str:
    """Short class-and-message form used in results."""
    return f"{type(exc).__name__}: {exc}"


def verify_with_flask(
    process: Callable[[Any], str], decompose: Callable[[str], Any], items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Feed each captured callback (exact bytes + header) to the SDK's `ResultHandler.process`, then hand
    what it returns to `payload_decomposer.decompose`, as the SDK's README tells a merchant to.

    `items` are `{"raw_b64": ..., "signature": ... or None}`; returns per item
    `{"accepted", "error", "body", "decomposed"}`, where `decomposed` is `{"status", "error"}` once accepted.
    """
    import base64

    import flask  # a dependency of k2-connect itself

    app = flask.Flask("k2-sdk-verify")
    out: list[dict[str, Any]] = []
    for item in items:
        raw = base64.b64decode(item["raw_b64"])
        headers = {} if item.get("signature") is None else {"X-KopoKopo-Signature": item["signature"]}
        rec: dict[str, Any] = {"accepted": False, "error": None, "body": None}
        with app.test_request_context(
            "/callback", method="POST", data=raw, headers=headers, content_type="application/json"
        ):
            try:
                with sdk_stdout_to_stderr():
                    processed = process(flask.request)
                rec["body"] = json.loads(processed)
                rec["accepted"] = True
            except Exception as exc:
                rec["error"] = error_text(exc)
                processed = None
        if processed is not None:
            try:
                model = decompose(processed)
                rec["decomposed"] = {"status": getattr(model, "status", None), "error": None}
            except Exception as exc:  # its KeyErrors on fields real payloads lack are SDK bugs (API.md 11)
                rec["decomposed"] = {"status": None, "error": error_text(exc)}
        out.append(rec)
    return out


def initialize(req: dict[str, Any]) -> None:
    """Point k2-connect (either version) at the sim; its base URL wants a trailing slash."""
    import k2connect  # the SDK under test, present in the driver's venv only

    k2connect.initialize(req["client_id"], req["client_secret"], req["base_url"] + "/", api_secret=req["api_key"])


def sdk_result(**fields: Any) -> dict[str, Any]:
    """The result line's header (`sdk`, installed `version`) followed by the mode's own fields."""
    return {"sdk": "k2-connect", "version": version("k2-connect"), **fields}


def run_verify(req: dict[str, Any]) -> dict[str, Any]:
    """`ResultHandler.process` on each captured callback, inside a Flask test request."""
    import k2connect
    from k2connect import payload_decomposer

    initialize(req)
    return sdk_result(
        verified=verify_with_flask(k2connect.ResultHandler.process, payload_decomposer.decompose, req["items"])
    )


def main(run_flows: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A Python driver's whole run: read the request, run its flows (or verify), print the one result line."""
    real_stdout = sys.stdout
    req = read_request()
    with sdk_stdout_to_stderr():
        result = run_verify(req) if req.get("mode") == "verify" else run_flows(req)
    emit(result, real_stdout)
