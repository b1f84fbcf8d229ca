"""The chat widget as a test drives it: through its Shadow DOM (Playwright's CSS locators
pierce open shadow roots), the way a customer sees and uses it."""

from playwright.sync_api import Locator, Page

REPLY_TIMEOUT_MS = 240_000  # the demo model on a busy CPU


class Widget:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator("shop-assistant")
        self.launcher = self.root.locator(".launcher")
        self.panel = self.root.locator(".panel")
        self.log = self.root.get_by_role("log")
        self.input = self.root.locator("textarea#input")
        self.send_button = self.root.locator("button.send").first
        self.notice = self.root.locator(".notice")

    def open(self) -> None:
        self.launcher.wait_for()  # shown once its stylesheet is in; reopened then if it was open
        if self.panel.is_hidden():
            self.launcher.click()
        self.panel.wait_for(state="visible")
        self.root.locator('[role="log"][aria-busy="false"]').wait_for()  # restored

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def wait_until_idle(self, timeout: float = REPLY_TIMEOUT_MS) -> None:
        """Until the exchange in flight is over: reply finished, nothing pending."""
        self.page.wait_for_function(
            """() => {
                const root = document.querySelector("shop-assistant")?.shadowRoot;
                return root && !root.querySelector(".composer .send").disabled
                    && !root.querySelector(".pending") && !root.querySelector(".streaming");
            }""",
            timeout=timeout,
        )

    def ask(self, text: str) -> None:
        self.send(text)
        self.wait_until_idle()

    def messages(self, role: str) -> Locator:
        return self.log.locator(f".message.{role}")

    def texts(self, role: str) -> list[str]:
        return [t.strip() for t in self.messages(role).locator(".content").all_inner_texts()]

    def cards(self, tool: str) -> Locator:
        return self.log.locator(f'.card[data-tool="{tool}"]')

    def button(self, name: str) -> Locator:
        return self.root.get_by_role("button", name=name, exact=True)

    def translate(self, locale: str, key: str, **values) -> str:
        """The widget's own string for `key`, read from its i18n module in the page."""
        return self.page.evaluate(
            """async ([url, locale, key, values]) => {
                const {translate} = await import(url);
                return translate(locale, key, values);
            }""",
            [self.module_url("i18n.js"), locale, key, values],
        )

    def module_url(self, name: str) -> str:
        script = self.page.locator('script[type="module"]').first.get_attribute("src")
        return script.rsplit("/", 1)[0] + "/" + name

    def stored_state(self) -> dict:
        return self.page.evaluate(
            """() => {
                const key = Object.keys(localStorage).find((k) => k.startsWith("shop-assistant:"));
                return key ? JSON.parse(localStorage.getItem(key)) : {};
            }"""
        )

    def record(self) -> None:
        """From now on, remember every progress line and streaming bubble the log shows, however
        briefly (read back with `recorded()`)."""
        self.page.evaluate(
            """() => {
                const log = document.querySelector("shop-assistant").shadowRoot.querySelector(".log");
                window.__seen = {progress: [], streamed: 0};
                new MutationObserver((changes) => {
                    for (const change of changes) {
                        for (const added of change.addedNodes) {
                            if (added.classList?.contains("progress")) window.__seen.progress.push(added.textContent);
                        }
                        // A reply bubble that was marked as streaming, even if only briefly.
                        if (change.type === "attributes" && (change.oldValue || "").includes("streaming")) {
                            window.__seen.streamed += 1;
                        }
                    }
                }).observe(log, {childList: true, subtree: true, attributes: true,
                                 attributeFilter: ["class"], attributeOldValue: true});
            }"""
        )

    def recorded(self) -> dict:
        return self.page.evaluate("() => window.__seen")
