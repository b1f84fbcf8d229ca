"""The chat widget's API. JSON for everything but the replies, which stream as server-sent
events (`text/event-stream`) from POST .../messages and POST .../retry."""

import json
import uuid
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.agent import loop
from assistant.conversations import selectors, services
from assistant.conversations.models import Conversation, Message, ToolCall
from assistant.finetune import selectors as finetune_selectors
from assistant.finetune import services as finetune_services
from assistant.shop.errors import InvalidInput, InvalidTransition

from .auth import HasWidgetSession, VisitorRateThrottle, WidgetSessionAuthentication
from .identity import WidgetSession, identity_token_verify, session_token_create

CARD_TOOLS = {
    "order_lookup",
    "shipment_track",
    "return_eligibility",
    "return_create",
    "return_status",
}


class ChatView(APIView):
    authentication_classes = [WidgetSessionAuthentication]
    permission_classes = [HasWidgetSession]
    throttle_classes = [VisitorRateThrottle]

    def conversation(self, public_id) -> Conversation:
        session: WidgetSession = self.request.auth
        return selectors.conversation_get_for_visitor(
            public_id=public_id, visitor_id=session.visitor_id, customer=session.customer
        )

    def body(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise InvalidInput("The body must be a JSON object.")
        return self.request.data


def message_json(m: Message) -> dict:
    return {
        "kind": "message",
        "id": m.id,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "retryable": m.status == Message.Status.FAILED,
        "author": (m.operator.get_full_name() or m.operator.get_username()) if m.operator else None,
        "created_at": m.created_at.isoformat(),
    }


def card_json(run: ToolCall) -> dict:
    return {
        "kind": "card",
        "id": f"card-{run.id}",
        "call_id": run.call_id,
        "name": run.name,
        "result": run.result,
        "created_at": run.created_at.isoformat(),
    }


def conversation_json(c: Conversation, after_id: int = 0) -> dict:
    messages = selectors.messages_for_customer(conversation=c, after_id=after_id)
    cards = c.tool_runs.filter(
        name__in=CARD_TOOLS, outcome=ToolCall.Outcome.OK, message_id__gt=after_id
    )
    items = [message_json(m) for m in messages] + [card_json(r) for r in cards]
    items.sort(key=lambda item: (item["created_at"], item["kind"] == "message"))
    return {
        "id": str(c.public_id),
        "status": c.status,
        "locale": c.locale,
        "csat_rating": c.csat_rating,
        "created_at": c.created_at.isoformat(),
        "items": items,
    }


class SessionView(APIView):
    authentication_classes = [WidgetSessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [VisitorRateThrottle]

    @extend_schema(
        request=inline_serializer(
            "SessionRequest", {"identity_token": serializers.CharField(required=False)}
        ),
        responses=inline_serializer(
            "SessionResponse",
            {
                "session_token": serializers.CharField(),
                "visitor_id": serializers.UUIDField(),
                "customer": serializers.DictField(allow_null=True),
            },
        ),
    )
    def post(self, request):
        """Open a chat session: anonymous, or as the customer named by the shop's identity token.
        Sending an existing session token keeps the visitor (and their conversations)."""
        data = request.data if isinstance(request.data, dict) else {}
        current = request.auth if isinstance(request.auth, WidgetSession) else None
        visitor_id = current.visitor_id if current else uuid.uuid4()
        customer = current.customer if current else None
        if data.get("identity_token"):
            customer = identity_token_verify(token=data["identity_token"])
        session = WidgetSession(visitor_id=visitor_id, customer=customer)
        return Response(
            {
                "session_token": session_token_create(session=session),
                "visitor_id": str(visitor_id),
                "customer": {"name": customer.name, "locale": customer.locale}
                if customer
                else None,
            },
            status=status.HTTP_201_CREATED,
        )


class ConversationListView(ChatView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="chat_conversations_list")
    def get(self, request):
        """The visitor's (and signed-in customer's) recent conversations."""
        conversations = selectors.conversation_list_for_visitor(
            visitor_id=request.auth.visitor_id, customer=request.auth.customer
        )
        return Response(
            {
                "conversations": [
                    {
                        "id": str(c.public_id),
                        "status": c.status,
                        "updated_at": c.updated_at.isoformat(),
                    }
                    for c in conversations
                ]
            }
        )

    @extend_schema(
        request=inline_serializer(
            "StartConversation",
            {"locale": serializers.ChoiceField(["en", "zh-hans"], required=False)},
        ),
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        """Start a conversation."""
        locale = self.body().get("locale") or (
            request.auth.customer.locale if request.auth.customer else "en"
        )
        conversation = services.conversation_start(
            customer=request.auth.customer, visitor_id=request.auth.visitor_id, locale=locale
        )
        return Response(conversation_json(conversation), status=status.HTTP_201_CREATED)


class ConversationView(ChatView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", int, required=False, description="Only items after this message id."
            )
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, public_id):
        """The conversation as the customer sees it; `?after=<message id>` for what is new."""
        after = request.query_params.get("after", "0")
        if not after.isdigit():
            raise InvalidInput("after must be a message id (a whole number).")
        return Response(conversation_json(self.conversation(public_id), after_id=int(after)))


def sse(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def reply_stream(
    conversation: Conversation, session: WidgetSession, first: list[tuple[str, dict]]
) -> AsyncIterator[bytes]:
    for name, data in first:
        yield sse(name, data)
    if conversation.status != Conversation.Status.BOT:
        yield sse("status", {"status": conversation.status})
    else:
        try:
            async for item in loop.reply(conversation=conversation, customer=session.customer):
                yield sse(item["event"], item["data"])
        except Exception as error:
            await sync_to_async(_mark_failed)(conversation, error)
            yield sse(
                "error",
                {
                    "code": "internal_error",
                    "message": "Something went wrong; you can retry this message.",
                },
            )
    yield sse("done", {})


def _mark_failed(conversation: Conversation, error: Exception) -> None:
    conversation.messages.filter(status=Message.Status.STREAMING).update(
        status=Message.Status.FAILED, error=repr(error)
    )


def streaming(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event through at once
    return response


class MessageView(ChatView):
    @extend_schema(
        request=inline_serializer(
            "PostMessage",
            {
                "content": serializers.CharField(),
                "client_id": serializers.CharField(required=False),
            },
        ),
        responses={(200, "text/event-stream"): str},
    )
    def post(self, request, public_id):
        """Send a message; the reply streams back as server-sent events.

        Events: `user_message`, then `tool_call` / `tool_result` / `token`, then `message` (the stored
        reply), `status` or `error`, and finally `done`. A repeated `client_id` is not stored twice."""
        conversation = self.conversation(public_id)
        body = self.body()
        message, created = services.message_post_user(
            conversation=conversation,
            content=body.get("content"),
            client_id=str(body.get("client_id") or ""),
        )
        first = [("user_message", message_json(message))]
        if not created:
            reply = (
                conversation.messages.filter(role=Message.Role.ASSISTANT, id__gt=message.id)
                .exclude(content="")
                .first()
            )
            if reply is not None:
                return streaming(_replay([*first, ("message", message_json(reply))]))
        conversation.refresh_from_db()
        return streaming(reply_stream(conversation, request.auth, first))


async def _replay(events: list[tuple[str, dict]]) -> AsyncIterator[bytes]:
    for name, data in [*events, ("done", {})]:
        yield sse(name, data)


class RetryView(ChatView):
    @extend_schema(request=None, responses={(200, "text/event-stream"): str})
    def post(self, request, public_id):
        """Answer the last message again after a failed reply."""
        conversation = self.conversation(public_id)
        last = conversation.messages.exclude(role=Message.Role.SYSTEM).order_by("-id").first()
        failed = (
            last is not None
            and last.role == Message.Role.ASSISTANT
            and last.status == Message.Status.FAILED
        )
        if not (failed or (last is not None and last.role == Message.Role.USER)):
            raise InvalidTransition("There is no failed reply to retry.")
        if conversation.status == Conversation.Status.WAITING and failed:
            services.conversation_resume_bot(conversation=conversation)
            conversation.refresh_from_db()
        return streaming(reply_stream(conversation, request.auth, []))


class CsatView(ChatView):
    @extend_schema(
        request=inline_serializer(
            "Csat",
            {
                "rating": serializers.IntegerField(min_value=1, max_value=5),
                "comment": serializers.CharField(required=False),
            },
        ),
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request, public_id):
        """Rate the conversation from 1 to 5."""
        body = self.body()
        conversation = services.conversation_rate(
            conversation=self.conversation(public_id),
            rating=body.get("rating"),
            comment=body.get("comment", ""),
        )
        return Response({"csat_rating": conversation.csat_rating})


class HandoffView(ChatView):
    @extend_schema(
        request=inline_serializer("Handoff", {"reason": serializers.CharField(required=False)}),
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request, public_id):
        """Ask for a human."""
        reason = str(self.body().get("reason") or "The customer asked for a person.")
        conversation = services.conversation_request_human(
            conversation=self.conversation(public_id), reason=reason
        )
        return Response({"status": conversation.status})


class CloseView(ChatView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, public_id):
        """End the conversation (the widget then asks for a rating)."""
        conversation = services.conversation_close(conversation=self.conversation(public_id))
        return Response({"status": conversation.status})


class ConsentView(ChatView):
    """The signed-in customer's choice to let their conversations train the assistant."""

    def customer(self):
        customer = self.request.auth.customer
        if customer is None:
            raise exceptions.PermissionDenied(
                "Only a signed-in customer can give or withdraw consent: sign in on the shop."
            )
        return customer

    def state(self, customer) -> dict:
        active = finetune_selectors.consent_active(customer=customer)
        return {
            "notice_version": settings.FINETUNE_NOTICE_VERSION,
            "granted": active is not None,
            "granted_version": active.notice_version if active else None,
            "granted_at": active.granted_at.isoformat() if active else None,
        }

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="chat_consent_get")
    def get(self, request):
        """Whether the customer lets their future conversations train the assistant, and the
        version of the notice to show."""
        return Response(self.state(self.customer()))

    @extend_schema(
        request=inline_serializer(
            "ConsentRequest",
            {
                "granted": serializers.BooleanField(),
                "notice_version": serializers.CharField(required=False),
            },
        ),
        responses=OpenApiTypes.OBJECT,
        operation_id="chat_consent_set",
    )
    def put(self, request):
        """Give (with the version of the notice shown) or withdraw consent."""
        customer, body = self.customer(), self.body()
        granted = body.get("granted")
        if not isinstance(granted, bool):
            raise InvalidInput("granted must be true or false.")
        if granted:
            finetune_services.consent_grant(
                customer=customer, notice_version=body.get("notice_version")
            )
        else:
            finetune_services.consent_revoke(customer=customer)
        return Response(self.state(customer))
