"""The IDE API, Tabby-compatible: point a Tabby editor plugin at `http(s)://<host>/ide` with
one of your API tokens, and it works unchanged."""

import platform

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.agent.llm import ModelUnavailable
from assistant.api import SettingsRateThrottle, error_body
from assistant.shop.errors import InvalidInput

from .models import ApiToken
from .services import api_token_authenticate, completion_create, completion_event_record


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, raw = header.partition(" ")
        if not header:
            return None
        if scheme.lower() != "bearer" or not raw:
            raise exceptions.AuthenticationFailed(
                "Send your API token as 'Authorization: Bearer <token>'."
            )
        token = api_token_authenticate(raw=raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed(
                "This API token is unknown or revoked; ask an operator for a new one."
            )
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="ide"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from an operator or `create_api_token`.",
        }


class HasApiToken(BasePermission):
    message = (
        "An API token is required: create one with `python manage.py create_api_token USERNAME`."
    )

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken)


class TokenRateThrottle(SettingsRateThrottle):
    """Per API token, counted in the shared cache (Redis in production)."""

    scope = "ide"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None


class IdeView(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasApiToken]
    throttle_classes = [TokenRateThrottle]

    def body(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise InvalidInput("The body must be a JSON object.")
        return self.request.data


class CompletionView(IdeView):
    @extend_schema(
        request=inline_serializer(
            "TabbyCompletionRequest",
            {
                "language": serializers.CharField(required=False),
                "segments": inline_serializer(
                    "Segments",
                    {
                        "prefix": serializers.CharField(),
                        "suffix": serializers.CharField(required=False),
                    },
                ),
            },
        ),
        responses=inline_serializer(
            "TabbyCompletionResponse",
            {
                "id": serializers.CharField(),
                "choices": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def post(self, request):
        body = self.body()
        segments = body.get("segments")
        if not isinstance(segments, dict) or "prefix" not in segments:
            raise InvalidInput("segments.prefix is required: the code before the cursor.")
        try:
            completion = completion_create(
                token=request.auth,
                language=body.get("language") or "",
                prefix=segments["prefix"],
                suffix=segments.get("suffix") or "",
            )
        except ModelUnavailable as error:
            return Response(
                error_body("model_unavailable", str(error)),
                status=503,
                headers={"Retry-After": "30"},
            )
        return Response(
            {"id": completion.public_id, "choices": [{"index": 0, "text": completion.text}]}
        )


class EventView(IdeView):
    @extend_schema(
        request=inline_serializer(
            "TabbyEvent",
            {
                "type": serializers.CharField(),
                "completion_id": serializers.CharField(),
                "choice_index": serializers.IntegerField(required=False),
            },
        ),
        responses={200: None},
    )
    def post(self, request):
        body = self.body()
        elapsed, index = body.get("elapsed"), body.get("choice_index", 0)
        if (
            not isinstance(index, int)
            or index < 0
            or (elapsed is not None and not isinstance(elapsed, int))
        ):
            raise InvalidInput("choice_index and elapsed must be whole numbers.")
        completion_event_record(
            token=request.auth,
            completion_id=str(body.get("completion_id", "")),
            type=str(body.get("type", "")),
            choice_index=index,
            view_id=str(body.get("view_id") or ""),
            elapsed_ms=elapsed,
            select_kind=str(body.get("select_kind") or ""),
        )
        return Response(status=200)


class HealthView(IdeView):
    throttle_classes = []

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="ide_health")
    def get(self, request):
        return Response(
            {
                "model": settings.MODEL_NAME,
                "chat_model": None,
                "device": "remote",
                "arch": platform.machine(),
                "cpu_info": platform.processor() or platform.machine(),
                "cpu_count": 0,
                "cuda_devices": [],
                "version": {
                    "build_date": "",
                    "build_timestamp": "",
                    "git_sha": "",
                    "git_describe": "shop-assistant 0.1.0",
                },
            }
        )

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, operation_id="ide_health_post")
    def post(self, request):
        """Tabby 0.2 plugins check health with POST."""
        return self.get(request)
