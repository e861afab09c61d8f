"""One error format: 400 field-by-field, 409 with the current state, never a 500 for input."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import DomainError, ValidationFailed


def exception_handler(exc, context):
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, TransitionNotAllowed):
        state = getattr(getattr(exc, "object", None), "state", None)
        return Response(
            {"detail": str(exc), "code": "illegal_transition", "current_state": state},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ConcurrentTransition):
        return Response(
            {"detail": str(exc), "code": "concurrent_transition"}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, DjangoValidationError):
        body = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
