"""What the client raises. Every refusal to act is an exception: the client fails closed."""

from __future__ import annotations

from typing import Any


class GovloopError(Exception):
    """Base class of the client's errors."""


class ApiError(GovloopError):
    """The server answered with an error that retrying will not fix (400, 401, 403, 404...)."""

    def __init__(self, status_code: int, body: Any, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path} answered {status_code}: {body!r}"[:500])
        self.status_code = status_code
        self.body = body


class ConfigUnavailable(GovloopError):
    """No config can be served: the server is unreachable and the cached copy, if any, is
    older than ``max_stale``."""


class NoActiveConfig(ConfigUnavailable):
    """The server says the family has no ACTIVE version."""


class ProdExecBlocked(GovloopError):
    """Production execution is not allowed now: go-live is off, the kill switch is engaged,
    or the gate could not be read (``code`` says which)."""

    def __init__(self, message: str, *, code: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class RiskDenied(GovloopError):
    """A risk reservation was denied (the denial is recorded on the server)."""

    def __init__(self, reason: str, *, reservation_id: int | None) -> None:
        super().__init__(f"risk reservation denied: {reason}")
        self.reason = reason
        self.reservation_id = reservation_id


class BufferFull(GovloopError):
    """The event buffer holds ``max_buffer`` unsent items: the client refuses more rather
    than drop any."""


class FlushFailed(GovloopError):
    """Buffered items could not be delivered now; they stay buffered for the next flush."""

    def __init__(self, message: str, *, pending: int) -> None:
        super().__init__(message)
        self.pending = pending
