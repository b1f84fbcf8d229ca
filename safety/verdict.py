"""The value ``safety.services.check`` returns."""

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["allow", "redact", "block", "escalate"]
Tier = Literal["keywords", "classifier", "alignment", "pii"]
Direction = Literal["input", "output"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    tier: Tier | None  # the deciding tier; None when every tier allowed
    categories: dict[str, float] = field(default_factory=dict)
    principle: str | None = None  # tier 3's cited principle (its code)
    latency_ms: dict[str, float] = field(default_factory=dict)
    text: str = ""  # what to pass on: redacted when action == "redact", else the original
    reason: str = ""
    audit_id: int | None = None

    @property
    def allowed(self) -> bool:
        """True when the text (``self.text``) may be passed on."""
        return self.action in ("allow", "redact")
