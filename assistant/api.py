"""What every JSON API of the project shares: the error shape and the request size limit.

Errors are `{"error": {"code": "...", "message": "..."}}` with the matching HTTP status, for
domain errors, DRF's own (malformed JSON, auth, throttling) and oversized bodies alike.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework import exceptions, status, throttling
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from assistant.shop.errors import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ReturnNotAllowed,
)

DOMAIN_STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    InvalidTransition: status.HTTP_409_CONFLICT,
    ReturnNotAllowed: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def too_large_message() -> str:
    return f"The request body is larger than the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KiB."


def domain_status(exc: DomainError) -> int:
    # An error class may name its own status (e.g. 401 for a bad identity token).
    return getattr(exc, "http_status", None) or next(
        (s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400
    )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message), status=domain_status(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", too_large_message()), status=413)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError):
        message = f"The body is not valid JSON: {exc.detail}"
    elif isinstance(exc, exceptions.ValidationError):
        message = "; ".join(
            f"{field}: {' '.join(map(str, errors if isinstance(errors, list) else [errors]))}"
            for field, errors in (
                exc.detail.items() if isinstance(exc.detail, dict) else [("body", exc.detail)]
            )
        )
    else:
        message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    code = getattr(exc, "default_code", "error")
    response.data = error_body(code, message)
    return response


class RequestSizeLimitMiddleware:
    """Refuse oversized API bodies with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if (
            request.path.startswith(("/api/", "/ide/"))
            and length
            and length.isdigit()
            and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        ):
            return JsonResponse(error_body("request_too_large", too_large_message()), status=413)
        return self.get_response(request)


class SettingsRateThrottle(throttling.SimpleRateThrottle):
    """Reads its rate from the settings at each request (DRF's own reads it once, at import)."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
