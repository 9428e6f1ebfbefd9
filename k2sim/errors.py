"""Errors the emulator raises; one exception handler in `app.py` turns each into K2's error body."""
from __future__ import annotations

__all__ = ["SimError", "Invalid", "Missing", "NotFound", "Unauthorized", "Conflict", "OAuthError", "InjectedError"]


class SimError(Exception):
    """Base: an HTTP status and a message, rendered as `{"error_code", "error_message"}`."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Invalid(SimError):
    """A field is present but wrong (422), named in the message."""

    status = 422

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def within(self, prefix: str) -> Invalid:
        """The same error, its field named inside a list item (`destinations[0].amount`)."""
        moved = Invalid(prefix + self.field, self.problem)
        moved.status = self.status
        return moved


class Missing(Invalid):
    """A required field is absent or empty (400)."""

    status = 400

    def __init__(self, field: str) -> None:
        super().__init__(field, "is required")


class NotFound(SimError):
    """No such resource or route (404)."""

    status = 404


class Unauthorized(SimError):
    """Missing, invalid or expired bearer token (401)."""

    status = 401


class Conflict(SimError):
    """The request clashes with the resource's state, e.g. resolving a final one (409)."""

    status = 409


class OAuthError(SimError):
    """An /oauth/* failure, rendered OAuth style as `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, *, status: int = 401) -> None:
        super().__init__(description, status=status)
        self.error = error


class InjectedError(SimError):
    """A failure forced through `/sim/faults` (5xx or 429); nothing was processed."""

    def __init__(self, status: int) -> None:
        super().__init__("Rate limit exceeded" if status == 429 else "Internal server error (injected)", status=status)
