// The shop assistant's chat widget. A shop embeds it with one tag and a config object:
//
//   <script>window.AssistantSettings = {baseUrl: "https://assistant.example", locale: "en",
//                                       position: "right", identityToken: "<signed by the shop>"}</script>
//   <script type="module" src="https://assistant.example/static/frontend/widget/widget.js"></script>
//
// Everything renders inside a Shadow DOM under one <shop-assistant> element whose own styles
// are set inline with !important, so the page's CSS cannot reach in and ours cannot leak out.

import { ApiError, ChatApi, ConnectionLost } from "./api.js";
import { buildCard, progressText } from "./cards.js";
import { localeOf, translate } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

const POLL_WITH_HUMAN_MS = 3000;
const POLL_WITH_BOT_MS = 15000;
const RECONNECT_MS = [1000, 2000, 4000, 8000];
const HOST_STYLE = [
  "all: initial",
  "position: fixed",
  "inset: auto 0 0 auto",
  "width: 0",
  "height: 0",
  "display: block",
  "visibility: visible",
  "opacity: 1",
  "z-index: 2147483000",
]
  .map((rule) => `${rule} !important`)
  .join("; ");

function el(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function randomId() {
  // crypto.randomUUID needs a secure context; shop pages may be plain http in development.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

function chatIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(ns, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("class", "launcher-icon");
  const path = icon.appendChild(document.createElementNS(ns, "path"));
  path.setAttribute(
    "d",
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  );
  return icon;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Widget {
  constructor(settings) {
    const scriptUrl = new URL(import.meta.url);
    this.baseUrl = settings.baseUrl || scriptUrl.origin;
    this.locale = localeOf(settings.locale || document.documentElement.lang);
    this.t = (key, values) => translate(this.locale, key, values);
    this.api = new ChatApi({
      baseUrl: this.baseUrl,
      identityToken: settings.identityToken,
      storageKey: `shop-assistant:${this.baseUrl}`,
    });
    this.position = settings.position === "left" ? "left" : "right";
    this.stylesheet = new URL("./widget.css", scriptUrl).href;
    this.keys = new Map(); // item key ("m-12" for a message, "call-abc" for a card) → element
    this.lastId = 0;
    this.status = "bot";
    this.busy = false; // a message is being sent and answered
    this.pollTimer = null;
    this.queue = Promise.resolve();
  }

  async mount() {
    const host = el("shop-assistant", { style: HOST_STYLE });
    const root = host.attachShadow({ mode: "open" });
    const css = el("link", { rel: "stylesheet", href: this.stylesheet });
    const loaded = new Promise((resolve) => {
      css.addEventListener("load", resolve);
      css.addEventListener("error", resolve);
    });
    root.append(css, this.build());
    document.body.append(host);
    await loaded;
    this.frame.hidden = false;
    if (this.api.state.open) this.open({ focus: false });
  }

  build() {
    const t = this.t;
    this.frame = el("div", {
      className: "frame",
      lang: this.locale,
      "data-position": this.position,
    });
    this.frame.hidden = true;
    this.launcher = el("button", {
      type: "button",
      className: "launcher",
      "aria-expanded": "false",
      "aria-controls": "panel",
    });
    this.launcher.append(chatIcon(), el("span", {}, t("open")));
    this.launcher.addEventListener("click", () =>
      this.panel.hidden ? this.open() : this.minimise(),
    );

    this.panel = el("section", {
      id: "panel",
      className: "panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "title",
    });
    this.panel.hidden = true;
    const header = el("header", { className: "header" });
    const minimise = el(
      "button",
      { type: "button", className: "icon-button minimise", "aria-label": t("minimise") },
      "×",
    );
    header.append(el("h2", { id: "title" }, t("title")), minimise);
    const toolbar = el("div", { className: "toolbar" });
    this.humanButton = el("button", { type: "button", className: "text-button human" }, t("human"));
    this.endButton = el("button", { type: "button", className: "text-button end" }, t("end"));
    this.endButton.hidden = true; // until there is a conversation to end
    toolbar.append(this.humanButton, this.endButton);
    this.humanButton.addEventListener("click", () => this.askForHuman());
    this.endButton.addEventListener("click", () => this.end());
    minimise.addEventListener("click", () => this.minimise());

    this.log = el("div", {
      className: "log",
      role: "log",
      "aria-live": "polite",
      "aria-busy": "false",
      "aria-label": t("log"),
      tabindex: "0",
    });
    this.notice = el("div", { className: "notice", role: "status" });
    this.composer = el("form", { className: "composer" });
    this.input = el("textarea", {
      id: "input",
      rows: "1",
      maxlength: "4000",
      placeholder: t("placeholder"),
    });
    this.sendButton = el("button", { type: "submit", className: "send" }, t("send"));
    this.composer.append(
      el("label", { for: "input", className: "sr-only" }, t("inputLabel")),
      this.input,
      this.sendButton,
    );
    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.csat = el("div", { className: "csat" });
    this.csat.hidden = true;
    // A signed-in customer's choice to let their conversations train the assistant.
    this.consent = el("label", { className: "consent" });
    this.consentBox = el("input", { type: "checkbox" });
    this.consent.append(this.consentBox, el("span", {}, t("consent")));
    this.consent.hidden = true;
    this.consentBox.addEventListener("change", () => this.setConsent(this.consentBox.checked));
    this.panel.append(
      header,
      toolbar,
      this.log,
      this.notice,
      this.csat,
      this.composer,
      this.consent,
    );
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.minimise();
    });
    this.frame.append(this.panel, this.launcher);
    this.showGreeting();
    return this.frame;
  }

  // Opening, closing, restoring

  async open({ focus = true } = {}) {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.removeAttribute("data-unread");
    this.api.save({ open: true });
    if (focus) this.input.focus();
    if (!this.ready) this.ready = this.enqueue(() => this.restore());
    await this.ready;
  }

  /** Calls that read or change the conversation run one after another, so that a poll never
   * races a reply and `?after=` never skips an item that another call was about to show. */
  enqueue(task) {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  minimise() {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.api.save({ open: false });
    this.launcher.focus();
  }

  async restore() {
    this.log.setAttribute("aria-busy", "true");
    try {
      await this.api.open();
      if (!this.api.state.conversationId && this.api.state.signedIn) {
        // A signed-in customer finds an unfinished conversation again on another device.
        const { conversations } = await this.api.json("GET", "conversations");
        const unfinished = conversations.find((c) => c.status !== "closed");
        if (unfinished) this.api.save({ conversationId: unfinished.id });
      }
      if (this.api.state.conversationId) await this.resync();
      if (this.api.state.signedIn) this.showConsent(await this.api.json("GET", "consent"));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.forgetConversation();
      else this.showNotice(this.describe(error));
    } finally {
      this.log.setAttribute("aria-busy", "false");
    }
  }

  showConsent(state) {
    this.consentVersion = state.notice_version;
    this.consentBox.checked = state.granted && state.granted_version === state.notice_version;
    this.consent.hidden = false;
  }

  async setConsent(granted) {
    const body = { granted, notice_version: this.consentVersion };
    try {
      this.showConsent(await this.api.json("PUT", "consent", body));
    } catch (error) {
      this.consentBox.checked = !granted;
      this.showNotice(this.describe(error));
    }
  }

  /** Render the whole conversation as stored: after a reload or a reconnect, so nothing shows twice. */
  async resync() {
    const conversation = await this.api.conversation(this.api.state.conversationId);
    const pending = this.log.querySelector(".pending"); // typed meanwhile, not sent yet
    this.log.replaceChildren();
    this.keys.clear();
    this.lastId = 0;
    this.showGreeting();
    if (pending) this.log.append(pending);
    this.addItems(conversation.items);
    this.setStatus(conversation.status, conversation.csat_rating);
  }

  forgetConversation() {
    this.api.save({ conversationId: "" });
    this.log.replaceChildren();
    this.keys.clear();
    this.lastId = 0;
    this.showGreeting();
    this.setStatus("bot", null);
  }

  async conversationId() {
    if (!this.api.state.conversationId) {
      if (!this.api.state.sessionToken) await this.api.open();
      const conversation = await this.api.startConversation(this.locale);
      this.api.save({ conversationId: conversation.id });
    }
    return this.api.state.conversationId;
  }

  // The log

  showGreeting() {
    this.log.append(el("p", { className: "greeting" }, this.t("greeting")));
  }

  /** Add to the log in the server's order: before a message that is still being sent. */
  place(node) {
    this.log.insertBefore(node, this.log.querySelector(".pending"));
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  remember(key, node) {
    this.keys.set(key, node);
    node.dataset.key = key;
  }

  bubble(role, { author } = {}) {
    const node = el("div", { className: `message ${role}` });
    const who =
      role === "user"
        ? this.t("you")
        : role === "system"
          ? this.t("system")
          : author || this.t("assistant");
    node.append(
      el("span", { className: "sr-only author" }, `${who}: `),
      el("div", { className: "content" }),
    );
    if (author)
      node.prepend(el("div", { className: "author-name", "aria-hidden": "true" }, author));
    this.place(node);
    return node;
  }

  setContent(node, text, role) {
    const content = node.querySelector(".content");
    if (role === "user" || role === "system") content.textContent = text;
    else content.replaceChildren(renderMarkdown(text));
  }

  addMessage(item) {
    const key = `m-${item.id}`;
    this.lastId = Math.max(this.lastId, item.id);
    let node = this.keys.get(key);
    if (!node) {
      node = this.bubble(item.role, { author: item.author });
      this.remember(key, node);
    }
    this.setContent(node, item.content || (item.retryable ? this.t("failed") : ""), item.role);
    node.classList.toggle("failed", Boolean(item.retryable));
    if (item.retryable) this.offerRetry(node);
    return node;
  }

  addCard(callId, name, result) {
    const key = `call-${callId}`;
    if (this.keys.has(key)) return;
    const card = buildCard(this.t, name, result);
    if (!card) return;
    this.place(card);
    this.remember(key, card);
  }

  addItems(items) {
    for (const item of items) {
      if (item.kind === "card") this.addCard(item.call_id, item.name, item.result);
      else this.addMessage(item);
    }
    this.scroll();
  }

  offerRetry(node) {
    if (node.querySelector(".retry")) return;
    const button = el(
      "button",
      { type: "button", className: "text-button retry" },
      this.t("retry"),
    );
    button.addEventListener("click", () => this.retry());
    node.append(button);
  }

  showNotice(text) {
    this.notice.textContent = text;
  }

  describe(error) {
    return error instanceof ConnectionLost
      ? this.t("reconnecting")
      : this.t("error", { message: error.message });
  }

  // Conversation status: bot, waiting_for_human, with_human, closed

  setStatus(status, csatRating) {
    this.status = status;
    const closed = status === "closed";
    this.composer.hidden = closed;
    this.humanButton.hidden = closed || status !== "bot";
    this.endButton.hidden = closed || !this.api.state.conversationId;
    if (status === "waiting_for_human") this.showNotice(this.t("waiting"));
    else if (!this.busy) this.showNotice("");
    if (closed) this.showCsat(csatRating);
    else this.csat.hidden = true;
    this.schedulePoll();
  }

  // Sending

  setBusy(busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
  }

  submit() {
    const text = this.input.value.trim();
    if (!text || this.busy) return;
    this.input.value = "";
    const pending = this.bubble("user");
    this.setContent(pending, text, "user");
    pending.classList.add("pending");
    this.scroll();
    this.setBusy(true);
    this.enqueue(() => this.send(text, pending));
  }

  async send(text, pending) {
    const clientId = randomId();
    await this.converse(
      async (handler) => {
        const id = await this.conversationId();
        this.endButton.hidden = false;
        await this.api.stream(
          `conversations/${id}/messages`,
          { content: text, client_id: clientId },
          handler,
        );
      },
      {
        onRefused: () => {
          pending.remove();
          if (!this.input.value) this.input.value = text; // nothing typed is lost
        },
      },
    );
  }

  retry() {
    for (const button of this.log.querySelectorAll(".retry")) button.remove();
    this.setBusy(true);
    return this.enqueue(() =>
      this.converse((handler) =>
        this.api.stream(`conversations/${this.api.state.conversationId}/retry`, undefined, handler),
      ),
    );
  }

  /** Run one streamed exchange; after a dropped connection, send the same request again (the
   * client_id makes the server store the message once and replay a reply it already has),
   * then show the conversation as stored. */
  async converse(exchange, { onRefused } = {}) {
    clearTimeout(this.pollTimer);
    let stale = false; // what the log shows may differ from what is stored
    for (let attempt = 0; ; attempt++) {
      const reply = new Reply(this);
      try {
        await exchange((name, data) => reply.on(name, data));
        this.showNotice(this.status === "waiting_for_human" ? this.t("waiting") : "");
        break;
      } catch (error) {
        reply.discard();
        if (error instanceof ConnectionLost) {
          stale = true;
          this.showNotice(this.t("reconnecting"));
          await sleep(RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]);
          continue;
        }
        this.showNotice(this.describe(error));
        if (error instanceof ApiError && error.status === 409) stale = true; // e.g. closed meanwhile
        onRefused?.();
        break;
      }
    }
    this.log.setAttribute("aria-busy", "false");
    if (stale) await this.resync().catch((error) => this.showNotice(this.describe(error)));
    this.setBusy(false);
    this.schedulePoll();
  }

  askForHuman() {
    return this.enqueue(async () => {
      try {
        await this.api.handoff(await this.conversationId(), this.t("humanReason"));
        await this.poll();
        this.showNotice(this.t("humanAsked"));
      } catch (error) {
        this.showNotice(this.describe(error));
      }
    });
  }

  end() {
    return this.enqueue(async () => {
      try {
        await this.api.close(this.api.state.conversationId);
        await this.poll();
      } catch (error) {
        this.showNotice(this.describe(error));
      }
    });
  }

  // Operators' replies and status changes arrive by polling `?after=<last message id>`.

  schedulePoll() {
    clearTimeout(this.pollTimer);
    if (!this.api.state.conversationId || this.status === "closed" || this.busy) return;
    const human = this.status === "waiting_for_human" || this.status === "with_human";
    this.pollLater(human ? POLL_WITH_HUMAN_MS : POLL_WITH_BOT_MS);
  }

  pollLater(ms) {
    this.pollTimer = setTimeout(() => this.enqueue(() => this.poll()), ms);
  }

  async poll() {
    clearTimeout(this.pollTimer);
    if (!this.api.state.conversationId) return;
    try {
      if (document.visibilityState !== "hidden") {
        const conversation = await this.api.conversation(
          this.api.state.conversationId,
          this.lastId,
        );
        if (conversation.items.length && this.panel.hidden)
          this.launcher.setAttribute("data-unread", "true");
        this.addItems(conversation.items);
        this.setStatus(conversation.status, conversation.csat_rating);
        return;
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return this.forgetConversation();
      if (error instanceof ApiError && error.retryAfter) {
        this.pollLater(error.retryAfter * 1000);
        return;
      }
    }
    this.schedulePoll();
  }

  // Rating after the conversation is closed

  showCsat(rating) {
    const t = this.t;
    this.csat.hidden = false;
    this.csat.replaceChildren();
    if (rating) {
      this.csat.append(
        el("p", { className: "csat-thanks" }, t("csatThanks")),
        this.newChatButton(),
      );
      return;
    }
    const group = el("div", { className: "stars", role: "group", "aria-label": t("csatQuestion") });
    let chosen = 0;
    const stars = [1, 2, 3, 4, 5].map((n) => {
      const star = el(
        "button",
        {
          type: "button",
          className: "star",
          "aria-pressed": "false",
          "aria-label": t("csatStar", { n }),
        },
        "★",
      );
      star.addEventListener("click", () => {
        chosen = n;
        stars.forEach((s, i) => s.setAttribute("aria-pressed", String(i < n)));
        submit.disabled = false;
      });
      return star;
    });
    group.append(...stars);
    const comment = el("textarea", {
      className: "csat-comment",
      rows: "2",
      maxlength: "2000",
      "aria-label": t("csatComment"),
      placeholder: t("csatComment"),
    });
    const submit = el("button", { type: "button", className: "send csat-submit" }, t("csatSubmit"));
    submit.disabled = true;
    submit.addEventListener("click", async () => {
      try {
        const result = await this.api.rate(this.api.state.conversationId, chosen, comment.value);
        this.showCsat(result.csat_rating);
        this.csat.querySelector("button").focus();
      } catch (error) {
        this.showNotice(this.describe(error));
      }
    });
    this.csat.append(
      el("p", { className: "csat-question" }, t("csatQuestion")),
      group,
      comment,
      submit,
      this.newChatButton(),
    );
  }

  newChatButton() {
    const button = el(
      "button",
      { type: "button", className: "text-button new-chat" },
      this.t("newChat"),
    );
    button.addEventListener("click", () => {
      this.forgetConversation();
      this.input.focus();
    });
    return button;
  }
}

/** One streamed reply: progress lines while tools run, their cards, the text as it arrives. */
class Reply {
  constructor(widget) {
    this.w = widget;
    this.node = null;
    this.text = "";
    this.progress = new Map();
    this.added = [];
  }

  on(name, data) {
    const w = this.w;
    if (name === "user_message") {
      const pending = w.log.querySelector(".message.user.pending");
      if (pending && !w.keys.has(`m-${data.id}`)) {
        pending.classList.remove("pending");
        w.remember(`m-${data.id}`, pending);
      }
      w.addMessage(data);
    } else if (name === "tool_call") {
      const line = el("p", { className: "progress" }, progressText(w.t, data.name, data.arguments));
      w.place(line);
      this.progress.set(data.id, line);
      this.added.push(line);
    } else if (name === "tool_result") {
      this.progress.get(data.id)?.remove();
      if (data.outcome === "ok") {
        w.addCard(data.id, data.name, data.result);
        const card = w.keys.get(`call-${data.id}`);
        if (card) this.added.push(card);
      }
    } else if (name === "token") {
      if (!this.node) {
        this.node = w.bubble("assistant");
        this.node.classList.add("streaming");
        this.added.push(this.node);
        w.log.setAttribute("aria-busy", "true");
      }
      this.text += data.text;
      w.setContent(this.node, this.text, "assistant");
    } else if (name === "message") {
      const existing = w.keys.get(`m-${data.id}`);
      if (this.node && !existing) {
        this.node.classList.remove("streaming");
        w.remember(`m-${data.id}`, this.node);
      } else if (this.node) {
        this.node.remove();
      }
      w.addMessage({ ...data, role: "assistant", retryable: data.status === "failed" });
      w.log.setAttribute("aria-busy", "false");
      this.added = [];
    } else if (name === "status") {
      w.setStatus(data.status, null);
    } else if (name === "error") {
      w.log.setAttribute("aria-busy", "false");
      if (this.node) this.node.classList.add("failed");
      w.showNotice(data.message);
      const last = this.node || [...w.keys.values()].at(-1);
      if (last) w.offerRetry(last);
    }
    w.scroll();
  }

  /** The stream broke: take back what it showed; the retry or the resync shows it again. */
  discard() {
    for (const node of this.added) {
      for (const [key, value] of this.w.keys) if (value === node) this.w.keys.delete(key);
      node.remove();
    }
    for (const line of this.progress.values()) line.remove();
    this.w.log.setAttribute("aria-busy", "false");
  }
}

const widget = new Widget(window.AssistantSettings || {});
if (document.body) widget.mount();
else document.addEventListener("DOMContentLoaded", () => widget.mount());
