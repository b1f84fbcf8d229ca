import pytest

from safety import alignment, keywords


@pytest.fixture(autouse=True)
def fresh_safety_state(settings):
    """Each test sees the lists and constitution of its own database, checked on every call."""
    settings.SAFETY_RELOAD_CHECK_SECONDS = 0
    settings.MODEL_SERVER_URL = "http://127.0.0.1:9/v1"  # nothing listens: the judge is unreachable
    keywords.reset_matcher()
    alignment.reset()
    yield
    keywords.reset_matcher()
    alignment.reset()
