import hashlib
import secrets
import time
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from assistant.agent import llm
from assistant.shop.errors import InvalidInput, NotFound
from safety.pii import redact_pii

from .models import ApiToken, Completion, CompletionEvent

TOKEN_PREFIX = "sat_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the raw token, which is not kept."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("A token needs a name of 1 to 100 characters, e.g. 'laptop VS Code'.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], key_hash=_hash(raw))
    return token, raw


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token matching `raw`, or None; records when it was last used."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def completion_create(*, token: ApiToken, language: str, prefix: str, suffix: str) -> Completion:
    """Complete the code between prefix and suffix. Secrets (API keys, private keys) and
    personal data in the editor's text are redacted before the model sees them."""
    if not isinstance(prefix, str) or not isinstance(suffix, str) or not isinstance(language, str):
        raise InvalidInput("segments.prefix, segments.suffix and language must be strings.")
    if len(language) > 32:
        raise InvalidInput("language must be at most 32 characters, e.g. 'python'.")
    # Keep the text nearest the cursor: that is what the completion depends on.
    prefix, suffix = (
        prefix[-settings.IDE_MAX_PREFIX_CHARS :],
        suffix[: settings.IDE_MAX_SUFFIX_CHARS],
    )
    prefix, prefix_hits = redact_pii(prefix)
    suffix, suffix_hits = redact_pii(suffix)
    started = time.perf_counter()
    completion = Completion(
        public_id=f"cmpl-{uuid.uuid4()}",
        token=token,
        language=language,
        prompt_chars=len(prefix) + len(suffix),
        redactions=len(prefix_hits) + len(suffix_hits),
    )
    try:
        completion.text = llm.complete_code(
            prefix=prefix, suffix=suffix, max_tokens=settings.IDE_MAX_TOKENS
        )
    except llm.ModelUnavailable:
        completion.failed = True
        raise
    finally:
        completion.latency_ms = round((time.perf_counter() - started) * 1000)
        completion.save()
    return completion


def completion_event_record(
    *,
    token: ApiToken,
    completion_id: str,
    type: str,
    choice_index: int = 0,
    view_id: str = "",
    elapsed_ms: int | None = None,
    select_kind: str = "",
) -> CompletionEvent:
    if type not in CompletionEvent.Type.values:
        raise InvalidInput(f"Unknown event type {type!r}; use view, select or dismiss.")
    try:
        completion = Completion.objects.get(public_id=completion_id, token__user=token.user)
    except Completion.DoesNotExist:
        raise NotFound(f"No completion {completion_id!r} was served to you.") from None
    return CompletionEvent.objects.create(
        completion=completion,
        type=type,
        choice_index=choice_index,
        view_id=view_id[:64],
        elapsed_ms=elapsed_ms,
        select_kind=select_kind[:16],
    )
