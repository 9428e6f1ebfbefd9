"""The states of a request that moves money, and the one table of moves between them."""
from __future__ import annotations

from enum import StrEnum

from k2 import statuses

__all__ = ["FINAL", "NOT_PAID", "OPEN", "TRANSITIONS", "OutboxState", "sources", "state_for_k2_status"]


class OutboxState(StrEnum):
    """Where one request stands; stored as its value."""

    AWAITING_APPROVAL = "awaiting_approval"  # above the owner's threshold: a second person must let it go
    DECLINED = "declined"  # the second person said no: never sent
    QUEUED = "queued"  # written (and approved, where it needed to be), not yet sent
    HELD = "held"  # queued, but its batch is paused: not sent until resumed
    CANCELLED = "cancelled"  # taken back before it was sent: never sent
    SENDING = "sending"  # claimed by a worker, the POST is under way (or the process died during it)
    ACCEPTED = "accepted"  # K2 holds it (we have its Location); its result will settle it
    SUCCEEDED = "succeeded"  # K2 reports the money moved
    FAILED = "failed"  # K2 reports it did not (cancelled, insufficient funds, no answer, ...)
    UNKNOWN = "unknown"  # sent, no answer: it may have moved money; never sent again, a result settles it
    REJECTED = "rejected"  # K2 refused it: nothing moved
    NOT_SENT = "not_sent"  # K2 could not be reached: nothing was sent


_ = OutboxState
TRANSITIONS: dict[OutboxState, frozenset[OutboxState]] = {
    _.AWAITING_APPROVAL: frozenset({_.QUEUED, _.DECLINED}),
    _.QUEUED: frozenset({_.SENDING, _.HELD, _.CANCELLED}),
    _.HELD: frozenset({_.QUEUED, _.CANCELLED}),
    # K2's result callback can arrive before its answer to our POST.
    _.SENDING: frozenset({_.ACCEPTED, _.UNKNOWN, _.REJECTED, _.NOT_SENT, _.SUCCEEDED, _.FAILED}),
    _.ACCEPTED: frozenset({_.SUCCEEDED, _.FAILED}),
    # A late answer, the result callback or a status query settles what was in doubt.
    _.UNKNOWN: frozenset({_.ACCEPTED, _.SUCCEEDED, _.FAILED}),
    _.SUCCEEDED: frozenset(),
    _.FAILED: frozenset(),
    _.REJECTED: frozenset(),
    _.NOT_SENT: frozenset(),
    _.DECLINED: frozenset(),
    _.CANCELLED: frozenset(),
}
FINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
OPEN = frozenset({_.SENDING, _.ACCEPTED, _.UNKNOWN})  # sent, or maybe sent, and not yet settled
NOT_PAID = FINAL - {_.SUCCEEDED}  # ended without moving money: never sent, taken back, refused, or failed at K2



def sources(target: OutboxState) -> tuple[OutboxState, ...]:
    """The states a row may be in for a move to `target` (the WHERE of its conditional UPDATE)."""
    return tuple(state for state, targets in TRANSITIONS.items() if target in targets)


def state_for_k2_status(status: str | None) -> OutboxState | None:
    """SUCCEEDED or FAILED for K2's final words; None while K2 still calls it pending (Pending, Scheduled, ...)."""
    if status in statuses.SUCCEEDED:
        return OutboxState.SUCCEEDED
    if status in statuses.FAILED:
        return OutboxState.FAILED
    return None
