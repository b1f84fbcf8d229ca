"""The operator console's own pages (where the Django admin does not fit) and the demo shop page
that embeds the chat widget. Data comes from the apps' selectors; changes go through services."""

from datetime import timedelta

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from assistant.agent import llm
from assistant.api import error_body
from assistant.chat.identity import identity_token_create
from assistant.conversations import selectors as conversation_selectors
from assistant.conversations import services as conversation_services
from assistant.conversations.models import Conversation
from assistant.finetune import selectors as finetune_selectors
from assistant.finetune import services as finetune_services
from assistant.finetune.models import Dataset, FineTuneJob
from assistant.ide import selectors as ide_selectors
from assistant.shop import selectors as shop_selectors
from assistant.shop.errors import DomainError, InvalidInput, NotFound
from assistant.shop.models import Locale
from safety import selectors as safety_selectors
from safety.models import SafetyVerdict
from safety.services import verdict_review

from .console import console_view, render_console

# Conversations


def _flagged(value: str) -> bool | None:
    choices = {"": None, "yes": True, "no": False}
    if value not in choices:
        raise InvalidInput("flagged must be 'yes', 'no' or empty.")
    return choices[value]


@require_GET
@console_view("conversations.view_conversation")
def conversations(request: HttpRequest) -> HttpResponse:
    """The live queue: the rows refresh themselves (`?fragment=1`) with the same filters."""
    filters = {key: request.GET.get(key, "").strip() for key in ("status", "label", "locale")}
    flagged = request.GET.get("flagged", "")
    rows, error = [], None
    try:
        rows = conversation_selectors.conversation_list_for_console(
            **filters, flagged=_flagged(flagged)
        )
    except DomainError as problem:
        error = problem
    if request.GET.get("fragment"):
        return render(request, "frontend/console/_conversation_rows.html", {"rows": rows})
    return render_console(
        request,
        "frontend/console/conversations.html",
        {
            "title": "Conversations",
            "rows": rows,
            "filters": {**filters, "flagged": flagged},
            "statuses": Conversation.Status.choices,
            "locales": Locale.choices,
            "labels": conversation_selectors.conversation_labels_in_use(),
            "query": request.GET.urlencode(),
        },
        error=error,
    )


def _conversation(public_id) -> Conversation:
    try:
        return conversation_selectors.conversation_get_for_console(public_id=public_id)
    except NotFound:
        raise Http404("No such conversation.") from None


def _conversation_page(
    request: HttpRequest, conversation: Conversation, *, error: DomainError | None = None
) -> HttpResponse:
    live = {
        "conversation": conversation,
        "transcript": conversation_selectors.transcript_for_console(conversation=conversation),
        "verdicts": safety_selectors.verdicts_for_conversation(conversation_id=conversation.pk),
        "can_act": request.user.has_perm("conversations.change_conversation"),
    }
    if request.GET.get("fragment"):
        return render(request, "frontend/console/_conversation_live.html", live)
    return render_console(
        request,
        "frontend/console/conversation.html",
        {
            **live,
            "title": f"Conversation with {conversation.customer or 'a visitor'}",
            "notes": conversation.notes.select_related("author"),
            "canned": conversation_selectors.canned_responses_for(
                locale=conversation.locale, operator=request.user
            ),
            "draft": request.POST.get("content", ""),
        },
        error=error,
    )


@require_GET
@console_view("conversations.view_conversation")
def conversation(request: HttpRequest, public_id) -> HttpResponse:
    return _conversation_page(request, _conversation(public_id))


CONVERSATION_ACTIONS = {
    "take_over": lambda c, request: conversation_services.conversation_take_over(
        conversation=c, operator=request.user
    ),
    "hand_back": lambda c, request: conversation_services.conversation_hand_back(
        conversation=c, operator=request.user
    ),
    "close": lambda c, request: conversation_services.conversation_close(conversation=c),
    "reply": lambda c, request: conversation_services.message_post_operator(
        conversation=c, operator=request.user, content=request.POST.get("content", "")
    ),
    "note": lambda c, request: conversation_services.note_add(
        conversation=c, author=request.user, text=request.POST.get("text", "")
    ),
    "labels": lambda c, request: conversation_services.conversation_set_labels(
        conversation=c, labels=request.POST.get("labels", "").split(",")
    ),
}


@require_POST
@console_view("conversations.change_conversation")
def conversation_action(request: HttpRequest, public_id, action: str) -> HttpResponse:
    if action not in CONVERSATION_ACTIONS:
        raise Http404(f"Unknown action {action!r}.")
    conversation = _conversation(public_id)
    try:
        CONVERSATION_ACTIONS[action](conversation, request)
    except DomainError as error:
        conversation.refresh_from_db()
        return _conversation_page(request, conversation, error=error)
    return redirect("console:conversation", public_id=conversation.public_id)


# Safety review

REVIEW_DECISIONS = {
    "confirm": {"confirm": True},
    "allow": {"confirm": False, "expected_action": "allow"},
    "block": {"confirm": False, "expected_action": "block"},
    "escalate": {"confirm": False, "expected_action": "escalate"},
}


@require_http_methods(["GET", "POST"])
@console_view("safety.view_safetyverdict")
def safety_queue(request: HttpRequest) -> HttpResponse:
    """Verdicts that blocked or escalated something, oldest first: confirm them, or overturn
    them with the action they should have had (overturned ones become training data)."""
    error = None
    if request.method == "POST":
        if not request.user.has_perm("safety.change_safetyverdict"):
            error = InvalidInput("Your account may look at verdicts but not review them.")
        else:
            error = _review(request)
            if error is None:
                return redirect("console:safety")
    queue = list(safety_selectors.review_queue()[:100])
    reviewed = list(safety_selectors.recently_reviewed())
    links = conversation_selectors.public_ids_for(
        ids={v.conversation_id for v in queue + reviewed if v.conversation_id}
    )
    for verdict in queue + reviewed:
        verdict.conversation_public_id = links.get(verdict.conversation_id)
    return render_console(
        request,
        "frontend/console/safety.html",
        {"title": "Safety review", "queue": queue, "reviewed": reviewed},
        error=error,
    )


def _review(request: HttpRequest) -> DomainError | None:
    decision = REVIEW_DECISIONS.get(request.POST.get("decision", ""))
    if decision is None:
        return InvalidInput("Choose confirm, or the action the verdict should have had.")
    try:
        verdict = SafetyVerdict.objects.get(pk=int(request.POST.get("verdict", "")))
        verdict_review(
            verdict=verdict, reviewer=request.user, note=request.POST.get("note", ""), **decision
        )
    except (ValueError, SafetyVerdict.DoesNotExist):
        return NotFound("That verdict does not exist (any more).")
    except DomainError as error:
        return error
    return None


# IDE usage

USAGE_PERIODS = (7, 30, 90)


@require_GET
@console_view("ide.view_completion")
def ide_usage(request: HttpRequest) -> HttpResponse:
    days, error = request.GET.get("days", "30"), None
    if not days.isdigit() or int(days) not in USAGE_PERIODS:
        error = InvalidInput(f"days must be one of {', '.join(map(str, USAGE_PERIODS))}.")
        days = "30"
    since = timezone.now() - timedelta(days=int(days))
    rows = ide_selectors.usage_by_user_and_language(since=since)
    daily = ide_selectors.usage_by_day(since=since)
    return render_console(
        request,
        "frontend/console/ide.html",
        {
            "title": "IDE usage",
            "rows": rows,
            "total": ide_selectors.usage_total(rows=rows),
            "days": int(days),
            "periods": USAGE_PERIODS,
            "daily": [
                {"day": d.day.isoformat(), "completions": d.completions, "accepted": d.accepted}
                for d in daily
            ],
        },
        error=error,
    )


# Model server


@require_GET
@console_view(None)
def model_server(request: HttpRequest) -> HttpResponse:
    return render_console(
        request,
        "frontend/console/model.html",
        {"title": "Model server", "model_server_url": settings.MODEL_SERVER_URL},
    )


@require_GET
@console_view(None)
def model_server_metrics(request: HttpRequest) -> JsonResponse:
    try:
        metrics = llm.server_metrics()
    except llm.ModelUnavailable as error:
        return JsonResponse(error_body("model_unavailable", str(error)), status=503)
    return JsonResponse({"metrics": metrics, "at": timezone.now().timestamp()})


# The demo shop


@require_GET
def demo_shop(request: HttpRequest) -> HttpResponse:
    """A shop page as a shop would write it, with a signed-in customer (`?customer=<external
    id>` to be another one). It signs anyone in, so it exists only where DEMO_PAGE is on."""
    if not settings.DEMO_PAGE:
        raise Http404("The demo shop page is off (DEMO_PAGE).")
    customers = shop_selectors.demo_customers()
    if not customers:
        return render(request, "frontend/demo/shop.html", {"customer": None}, status=503)
    wanted = request.GET.get("customer", customers[0].external_id)
    try:
        customer = shop_selectors.customer_get_by_external_id(external_id=wanted)
    except NotFound:
        raise Http404(f"No customer {wanted!r}.") from None
    return render(
        request,
        "frontend/demo/shop.html",
        {
            "customer": customer,
            "customers": customers,
            "orders": shop_selectors.order_list_for_customer(customer=customer, limit=5),
            "widget_settings": {
                "baseUrl": request.build_absolute_uri("/").rstrip("/"),
                "locale": customer.locale,
                "position": "right",
                "identityToken": identity_token_create(external_id=customer.external_id),
            },
        },
    )


# Fine-tuning

FINETUNE_ADMIN = "finetune.add_finetunejob"  # creating, cancelling and deploying jobs


def _job(pk: int) -> FineTuneJob:
    job = FineTuneJob.objects.select_related("dataset").filter(pk=pk).first()
    if job is None:
        raise Http404("No such fine-tuning job.")
    return job


def _number(request: HttpRequest, name: str, kind: type, default):
    value = request.POST.get(name, "").strip()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, not {value!r}.") from None


def _finetune_action(request: HttpRequest, action: str) -> HttpResponse:
    if not request.user.has_perm(FINETUNE_ADMIN):
        raise InvalidInput("Your account may look at fine-tuning but not run or deploy it.")
    if action == "dataset":
        finetune_services.dataset_create(name=request.POST.get("name", ""), created_by=request.user)
        return redirect("console:finetune")
    if action == "job":
        dataset = Dataset.objects.filter(pk=_number(request, "dataset", int, 0)).first()
        if dataset is None:
            raise InvalidInput("Choose a dataset to train on.")
        job = finetune_services.job_create(
            dataset=dataset,
            created_by=request.user,
            epsilon=_number(request, "epsilon", float, 3.0),
            epochs=_number(request, "epochs", int, 3),
            batch_customers=_number(request, "batch_customers", int, 16),
        )
        return redirect("console:finetune-job", pk=job.pk)
    if action == "rollback":
        finetune_services.deployment_rollback(by=request.user)
        return redirect("console:finetune")
    raise Http404(f"Unknown action {action!r}.")


@require_http_methods(["GET", "POST"])
@console_view("finetune.view_finetunejob")
def finetune(request: HttpRequest, action: str = "") -> HttpResponse:
    """Datasets, jobs and what answers customers now; admins snapshot, train and roll back."""
    error = None
    if request.method == "POST":
        try:
            return _finetune_action(request, action)
        except DomainError as problem:
            error = problem
    return render_console(
        request,
        "frontend/console/finetune.html",
        {
            "title": "Fine-tuning",
            "datasets": Dataset.objects.order_by("-created_at")[:20],
            "jobs": FineTuneJob.objects.select_related("dataset").order_by("-created_at")[:50],
            "serving": finetune_selectors.serving_model(),
            "deployments": finetune_selectors.deployment_history()[:10],
            "can_run": request.user.has_perm(FINETUNE_ADMIN),
        },
        error=error,
    )


@require_http_methods(["GET", "POST"])
@console_view("finetune.view_finetunejob")
def finetune_job(request: HttpRequest, pk: int, action: str = "") -> HttpResponse:
    """One job: progress, loss and ε spent plotted live; cancel it, or approve and deploy it."""
    job, error = _job(pk), None
    if request.method == "POST":
        try:
            if not request.user.has_perm(FINETUNE_ADMIN):
                raise InvalidInput("Your account may look at jobs but not cancel or deploy them.")
            if action == "cancel":
                finetune_services.job_cancel(job=job)
            elif action == "deploy":
                finetune_services.job_deploy(job=job, by=request.user)
            else:
                raise Http404(f"Unknown action {action!r}.")
            return redirect("console:finetune-job", pk=job.pk)
        except DomainError as problem:
            error = problem
            job.refresh_from_db()
    return render_console(
        request,
        "frontend/console/finetune_job.html",
        {
            "title": f"Fine-tuning job #{job.pk}",
            "job": job,
            "progress": finetune_selectors.job_progress(job=job),
            "can_run": request.user.has_perm(FINETUNE_ADMIN),
        },
        error=error,
    )


@require_GET
@console_view("finetune.view_finetunejob")
def finetune_job_progress(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(finetune_selectors.job_progress(job=_job(pk)))
