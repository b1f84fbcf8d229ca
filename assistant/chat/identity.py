"""Who is chatting. Two signed tokens:

- The identity token is made by the shop's own backend for a signed-in customer (as Intercom's
  identity verification does) with the shared secret WIDGET_IDENTITY_SECRET:
      base64url({"sub": <customer external id>, "iat": <unix seconds>}) + "." + hex(HMAC-SHA256(secret, payload))
  It proves to us which customer the widget speaks for; without it the visitor is anonymous.
- The session token is ours, given to the widget when it opens a session; it carries the
  visitor id and the verified customer, and authenticates every later call (Bearer header),
  so the widget works on another origin without third-party cookies (and so without CSRF).
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from assistant.shop.errors import DomainError, NotFound
from assistant.shop.models import Customer
from assistant.shop.selectors import customer_get_by_external_id

SESSION_SALT = "assistant.chat.session"


class InvalidIdentity(DomainError):
    code = "invalid_identity"
    http_status = 401


@dataclass(frozen=True)
class WidgetSession:
    visitor_id: uuid.UUID
    customer: Customer | None

    @property
    def is_authenticated(self) -> bool:  # DRF treats request.auth as the credential
        return True


def _secret() -> bytes:
    if not settings.WIDGET_IDENTITY_SECRET:
        raise InvalidIdentity(
            "Signed-in chat is not configured: set WIDGET_IDENTITY_SECRET on the server and in the shop."
        )
    return settings.WIDGET_IDENTITY_SECRET.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def identity_token_create(*, external_id: str, issued_at: int | None = None) -> str:
    """What the shop's backend does (shown here for the demo page and tests)."""
    payload = _b64(json.dumps({"sub": external_id, "iat": issued_at or int(time.time())}).encode())
    return payload + "." + hmac.new(_secret(), payload.encode(), hashlib.sha256).hexdigest()


def identity_token_verify(*, token: str) -> Customer:
    payload, _, signature = str(token).partition(".")
    expected = hmac.new(_secret(), payload.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise InvalidIdentity("The identity token's signature is not valid.")
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        external_id, issued_at = str(claims["sub"]), int(claims["iat"])
    except (ValueError, KeyError, TypeError):
        raise InvalidIdentity("The identity token is malformed.") from None
    if time.time() - issued_at > settings.WIDGET_IDENTITY_MAX_AGE:
        raise InvalidIdentity(
            "The identity token has expired; the shop page should issue a new one."
        )
    try:
        return customer_get_by_external_id(external_id=external_id)
    except NotFound:
        raise InvalidIdentity("The identity token names no known customer.") from None


def session_token_create(*, session: WidgetSession) -> str:
    return signing.dumps(
        {"v": str(session.visitor_id), "c": session.customer.pk if session.customer else None},
        salt=SESSION_SALT,
        compress=True,
    )


def session_token_verify(*, token: str) -> WidgetSession | None:
    try:
        data = signing.loads(token, salt=SESSION_SALT, max_age=settings.WIDGET_SESSION_MAX_AGE)
        customer = Customer.objects.get(pk=data["c"]) if data["c"] is not None else None
        return WidgetSession(visitor_id=uuid.UUID(data["v"]), customer=customer)
    except (signing.BadSignature, Customer.DoesNotExist, KeyError, ValueError):
        return None
