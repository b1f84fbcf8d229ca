"""Seed the curated keyword lists and the constitution shipped in safety/data/ (not ../shared:
the runtime never depends on the shared data folder)."""

from django.db import migrations


def seed(apps, schema_editor):
    from safety.seed import seed_constitution, seed_keywords

    seed_keywords(apps.get_model("safety", "KeywordTerm"))
    seed_constitution(apps.get_model("safety", "Principle"), apps.get_model("safety", "PrincipleExample"))
    try:  # running processes reload their lists (bulk writes send no signals)
        from safety import alignment, keywords

        keywords.bump_version()
        alignment.bump_version()
    except Exception:  # noqa: BLE001  a cache that is not up yet: processes start fresh anyway
        pass


def unseed(apps, schema_editor):
    apps.get_model("safety", "KeywordTerm").objects.exclude(source="operator").delete()


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
