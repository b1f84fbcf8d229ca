"""Every change to the keyword lists or the constitution bumps a version in the shared cache,
so each process rebuilds its automaton or example embeddings on its next check."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import alignment, keywords
from .models import KeywordTerm, Principle, PrincipleExample


@receiver([post_save, post_delete], sender=KeywordTerm)
def keyword_lists_changed(**kwargs) -> None:
    keywords.bump_version()


@receiver([post_save, post_delete], sender=Principle)
@receiver([post_save, post_delete], sender=PrincipleExample)
def constitution_changed(**kwargs) -> None:
    alignment.bump_version()
