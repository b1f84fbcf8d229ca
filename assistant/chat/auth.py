from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from assistant.api import SettingsRateThrottle

from .identity import WidgetSession, session_token_verify


class WidgetSessionAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <session token>` from POST /api/chat/sessions."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise exceptions.AuthenticationFailed(
                "Send the chat session token as 'Authorization: Bearer <token>'."
            )
        session = session_token_verify(token=token.strip())
        if session is None:
            raise exceptions.AuthenticationFailed(
                "The chat session is invalid or expired; open a new session."
            )
        user = session.customer.user if session.customer else AnonymousUser()
        return user, session

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="chat"'


class HasWidgetSession(permissions.BasePermission):
    message = "Open a chat session first (POST /api/chat/sessions) and send its token."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, WidgetSession)


class VisitorRateThrottle(SettingsRateThrottle):
    """Per visitor, counted in the shared cache (Redis in production)."""

    scope = "chat"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, WidgetSession):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.visitor_id}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WidgetSessionScheme(OpenApiAuthenticationExtension):
    target_class = WidgetSessionAuthentication
    name = "chatSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The session_token from POST /api/chat/sessions.",
        }
