"""Where the safety layer sits in a conversation: on the customer's message before the model
sees it, and on the assistant's reply, sentence by sentence, before the customer sees it."""

import re

from assistant.conversations.models import Conversation
from safety.services import Verdict, check

# A sentence ends at . ! ? (followed by a space or the end) or at Chinese end punctuation or
# a line break; checking whole sentences gives the classifier context and keeps streaming smooth.
SENTENCE_END = re.compile(r"(?:[.!?](?=\s)|[。！？\n])")
PASSES = {"allow", "redact"}


def check_input(*, text: str, conversation: Conversation, context: str = "") -> Verdict:
    return check(text, direction="input", context=context, conversation_id=conversation.pk)


class OutputGate:
    """Holds back streamed text until a sentence is complete and has passed the check."""

    def __init__(self, *, conversation: Conversation, context: str) -> None:
        self.conversation = conversation
        self.context = context
        self.pending = ""
        self.released = ""
        self.stopped: Verdict | None = None
        self.verdict_ids: list[int] = []

    def feed(self, text: str) -> list[str]:
        if self.stopped:
            return []
        self.pending += text
        chunks = []
        while match := SENTENCE_END.search(self.pending):
            sentence, self.pending = self.pending[: match.end()], self.pending[match.end() :]
            chunks += self._check(sentence)
        return chunks

    def flush(self) -> list[str]:
        sentence, self.pending = self.pending, ""
        return self._check(sentence) if sentence.strip() and not self.stopped else []

    def _check(self, sentence: str) -> list[str]:
        verdict = check(
            sentence, direction="output", context=self.context, conversation_id=self.conversation.pk
        )
        if verdict.audit_id:
            self.verdict_ids.append(verdict.audit_id)
        if verdict.action not in PASSES:
            self.stopped = verdict
            return []
        self.released += verdict.text
        return [verdict.text]
