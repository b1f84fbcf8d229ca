"""Usage reports for the console, as Tabby's admin reports them: completions served, how many
the editor showed, how many the developer accepted; acceptance rate = accepted / shown."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from .models import Completion, CompletionEvent


@dataclass(frozen=True)
class Usage:
    completions: int
    shown: int
    accepted: int
    failures: int

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.shown if self.shown else None


@dataclass(frozen=True)
class UsageRow(Usage):
    username: str
    language: str
    avg_latency_ms: float | None


@dataclass(frozen=True)
class UsageDay(Usage):
    day: date


def _completions(*, since: datetime) -> QuerySet[Completion]:
    def happened(kind: str) -> Exists:
        return Exists(CompletionEvent.objects.filter(completion=OuterRef("pk"), type=kind))

    return Completion.objects.filter(created_at__gte=since).annotate(
        was_shown=happened(CompletionEvent.Type.VIEW),
        was_accepted=happened(CompletionEvent.Type.SELECT),
    )


_COUNTS = {
    "completions": Count("id", filter=Q(failed=False)),
    "shown": Count("id", filter=Q(was_shown=True)),
    "accepted": Count("id", filter=Q(was_accepted=True)),
    "failures": Count("id", filter=Q(failed=True)),
}


def usage_by_user_and_language(*, since: datetime) -> list[UsageRow]:
    rows = (
        _completions(since=since)
        .values("token__user__username", "language")
        .annotate(**_COUNTS, avg_latency_ms=Avg("latency_ms", filter=Q(failed=False)))
        .order_by("token__user__username", "language")
    )
    return [
        UsageRow(
            username=row.pop("token__user__username"),
            language=row.pop("language") or "unknown",
            **row,
        )
        for row in rows
    ]


def usage_by_day(*, since: datetime) -> list[UsageDay]:
    rows = (
        _completions(since=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**_COUNTS)
        .order_by("day")
    )
    return [UsageDay(**row) for row in rows]


def usage_total(*, rows: list[UsageRow]) -> Usage:
    return Usage(
        completions=sum(r.completions for r in rows),
        shown=sum(r.shown for r in rows),
        accepted=sum(r.accepted for r in rows),
        failures=sum(r.failures for r in rows),
    )
