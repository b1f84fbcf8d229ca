"""Tier 1: keyword lists matched with Aho-Corasick over normalised text.

Terms live in the database (``KeywordTerm``, edited in the admin). Each process builds one
automaton and keeps it until the list version in the Django cache (Redis in production)
changes: every save or delete of a term bumps the version (signals in ``safety.signals``),
so all web and worker processes reload within ``SAFETY_RELOAD_CHECK_SECONDS``.

Matching: the text is normalised (``safety.normalize``), then separators inside runs of single
letters are closed up ("f.u.c.k", "s e x") as are separators between Chinese characters
("操-你-妈"), and letters repeated three or more times are squeezed ("fuuuck"). English terms
match whole words only (no "Scunthorpe" problem); Chinese terms match anywhere.
"""

import re
import threading
import time
import uuid
from dataclasses import dataclass

import ahocorasick
from django.conf import settings
from django.core.cache import cache

from .normalize import is_cjk, normalize

VERSION_KEY = "safety:keywords:version"
_SINGLE_LETTER_RUN = re.compile(r"(?<![^\W\d_])(?:[^\W\d_][\s.\-_*·•]+){2,}[^\W\d_](?![^\W\d_])")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Obfuscating separators only: clause punctuation (，。！？ and, after NFKC, , ! ? : ;) stays, so
# that two clauses are never read as one word.
_CJK_SEPARATED = re.compile(rf"(?<=[{_CJK}])[\s.\-_*·•|/~+=^'\"]{{1,3}}(?=[{_CJK}])")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")


@dataclass(frozen=True)
class Term:
    id: int
    term: str
    category: str
    severity: int
    action: str
    whole_word: bool


@dataclass(frozen=True)
class Hit:
    term: Term
    start: int
    end: int


def matching_view(text: str) -> str:
    """The string the automaton runs over."""
    view = normalize(text)
    view = _SINGLE_LETTER_RUN.sub(lambda m: "".join(ch for ch in m.group(0) if ch.isalpha()), view)
    view = _CJK_SEPARATED.sub("", view)
    return _REPEATS.sub(r"\1", view)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not is_cjk(ch)


class KeywordMatcher:
    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self.automaton = ahocorasick.Automaton()
        keys: dict[str, list[Term]] = {}
        for term in terms:
            key = _REPEATS.sub(r"\1", normalize(term.term).strip())
            if key:
                keys.setdefault(key, []).append(term)
        for key, value in keys.items():
            self.automaton.add_word(key, (key, value))
        if keys:
            self.automaton.make_automaton()
        self.empty = not keys

    def find(self, text: str) -> list[Hit]:
        if self.empty:
            return []
        view = matching_view(text)
        hits = []
        for end, (key, terms) in self.automaton.iter(view):
            start = end - len(key) + 1
            for term in terms:
                if term.whole_word and (
                    (start > 0 and _is_word_char(view[start - 1]))
                    or (end + 1 < len(view) and _is_word_char(view[end + 1]))
                ):
                    continue
                hits.append(Hit(term, start, end + 1))
        return hits


_state_lock = threading.Lock()
_state: dict = {"matcher": None, "version": None, "checked": 0.0}


def bump_version() -> str:
    """Tell every process that the lists changed."""
    version = uuid.uuid4().hex
    cache.set(VERSION_KEY, version, None)
    return version


def current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:  # a cold or flushed cache: start a new generation everyone agrees on
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    return version


def load_terms() -> list[Term]:
    from .models import KeywordTerm

    return [
        Term(t.id, t.term, t.category, t.severity, t.action, t.whole_word)
        for t in KeywordTerm.objects.filter(enabled=True)
    ]


def get_matcher() -> KeywordMatcher:
    """This process's automaton, rebuilt when the version in the cache has moved on."""
    now = time.monotonic()
    interval = getattr(settings, "SAFETY_RELOAD_CHECK_SECONDS", 1.0)
    if _state["matcher"] is not None and now - _state["checked"] < interval:
        return _state["matcher"]
    version = current_version()
    with _state_lock:
        _state["checked"] = now
        if _state["matcher"] is None or _state["version"] != version:
            _state["matcher"] = KeywordMatcher(load_terms())
            _state["version"] = version
        return _state["matcher"]


def reset_matcher() -> None:
    with _state_lock:
        _state.update(matcher=None, version=None, checked=0.0)
