"""Browser tests: Debian's Chromium, headless, driven by Playwright, against the real stack:
Django under uvicorn and our model server serving the checkpoint `make run` serves. The
widget is embedded, as a shop would embed it, in a page of the shop's own web server (another
origin than the assistant's)."""

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from assistant.chat.identity import identity_token_create
from assistant.shop.demo.seed import operators_group_ensure
from assistant.shop.models import Customer
from tests.conftest import ROOT
from tests.live import Web, free_port, start_web, stop

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections (updates, sync,
# QUIC probes) fail on a closed network and can stall the pages under test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "a long test password"


class Shop:
    """The shop's web server: serves the pages a test writes, on its own origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, html: str) -> str:
        path = f"/{uuid.uuid4().hex}"
        self.pages[path] = html
        return self.origin + path


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    shop = Shop()
    yield shop
    shop.server.shutdown()


@pytest.fixture(scope="session")
def live(shop, demo_model, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        server, process = start_web(
            model_url=demo_model.url,
            var_dir=tmp_path_factory.mktemp("browser-web"),
            WIDGET_ALLOWED_ORIGINS=shop.origin,
            AGENT_MAX_TOKENS="200",
            AGENT_MAX_STEPS="4",
        )
    yield server
    stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is needed at {CHROMIUM} for the browser tests: "
            "apt-get install -y --no-install-recommends chromium (.ci/run does this)."
        )
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an asyncio loop running in this thread while it is open,
        # and Django would refuse the tests' own ORM calls as if they came from async code.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def context(browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Iterator[Page]:
    """A tab whose script errors fail the test."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_shop(
    page: Page,
    live: Web,
    shop: Shop,
    *,
    customer: Customer | None = None,
    locale: str | None = None,
    css: str = "",
    body: str = "<h1>Northwind Goods</h1><p>Our finest goods.</p>",
) -> None:
    """Publish a shop's page with the widget embedded as the README tells shops to, and open it."""
    settings = {"baseUrl": live.base, "position": "right"}
    if locale or customer:
        settings["locale"] = locale or customer.locale
    if customer:
        settings["identityToken"] = identity_token_create(external_id=customer.external_id)
    html = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{css}</style></head><body>{body}
<script>window.AssistantSettings = {json.dumps(settings)};</script>
<script type="module" src="{live.base}/static/frontend/widget/widget.js"></script>
</body></html>"""
    page.goto(shop.publish(html))


def staff_user(username: str, *, admin: bool = False):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=True, is_superuser=admin
    )
    if not admin:
        user.groups.add(operators_group_ensure())
    return user


def console_login(page: Page, live: Web, user, *, next_url: str = "/console/") -> None:
    page.goto(f"{live.base}/admin/login/?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live.base}{next_url}")


def screenshot(target, name: str) -> None:
    """Save a PNG under artifacts/screenshots/ (a page or an element)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
