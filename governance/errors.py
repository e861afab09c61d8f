"""Domain errors raised by services; the API maps each to its HTTP status."""

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code, **self.extra}


class ValidationFailed(DomainError):
    """Field-by-field errors: ``errors`` maps a field (or index) to its messages."""

    status_code = 400

    def __init__(self, errors: dict[str, Any], message: str = "invalid input") -> None:
        super().__init__(message)
        self.errors = errors

    def as_dict(self) -> dict[str, Any]:
        return self.errors


class TransitionConflict(DomainError):
    """An FSM transition that the current state does not allow (HTTP 409)."""

    status_code = 409
    code = "illegal_transition"

    def __init__(self, message: str, *, current_state: str, **extra: Any) -> None:
        super().__init__(message, current_state=current_state, **extra)
        self.current_state = current_state


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Locked(DomainError):
    """Go-live disabled or kill switch engaged (HTTP 423)."""

    status_code = 423
    code = "locked"
