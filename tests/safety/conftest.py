import pytest


@pytest.fixture(autouse=True)
def _fresh_safety_state(fresh_safety_state):
    """Each test sees the lists and constitution of its own database."""
