// The chat API (/api/chat/, see assistant/chat/views.py): a bearer session token kept in
// localStorage, JSON calls, and replies read as server-sent events from a POST body.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** A network failure (offline, connection reset, stream cut): worth trying again. */
export class ConnectionLost extends Error {}

export class ChatApi {
  constructor({ baseUrl, identityToken, storageKey }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.identityToken = identityToken || "";
    this.storageKey = storageKey;
    this.state = this.load();
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey)) || {};
    } catch {
      return {};
    }
  }

  save(changes) {
    this.state = { ...this.state, ...changes };
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(this.state));
    } catch {
      // Private browsing without storage: the conversation just won't survive a reload.
    }
  }

  async request(method, path, body, { signal } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.state.sessionToken) headers.Authorization = `Bearer ${this.state.sessionToken}`;
    let response;
    try {
      response = await fetch(`${this.baseUrl}/api/chat/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        credentials: "omit",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ConnectionLost(error.message);
    }
    if (!response.ok) {
      let payload = {};
      try {
        payload = await response.json();
      } catch {
        // Not our JSON (a proxy's error page): the status says enough.
      }
      const retryAfter = Number(response.headers.get("Retry-After")) || 0;
      throw new ApiError(
        response.status,
        payload.error?.code || "http_error",
        payload.error?.message || `HTTP ${response.status}`,
        retryAfter,
      );
    }
    return response;
  }

  async json(method, path, body) {
    return (await this.request(method, path, body)).json();
  }

  /** Open (or keep) the session. A signed-in page sends its identity token each time; a page
   * without one never reuses a signed-in session (the customer may have signed out). */
  async open() {
    if (!this.identityToken && this.state.signedIn)
      this.save({ sessionToken: "", conversationId: "" });
    if (!this.identityToken && this.state.sessionToken) return;
    const body = this.identityToken ? { identity_token: this.identityToken } : {};
    let session;
    try {
      session = await this.json("POST", "sessions", body);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !this.state.sessionToken)
        throw error;
      this.save({ sessionToken: "" }); // our stored token expired: start a new visitor
      session = await this.json("POST", "sessions", body);
    }
    this.save({ sessionToken: session.session_token, signedIn: Boolean(session.customer) });
  }

  startConversation(locale) {
    return this.json("POST", "conversations", { locale });
  }

  conversation(id, after = 0) {
    return this.json("GET", `conversations/${id}${after ? `?after=${after}` : ""}`);
  }

  handoff(id, reason) {
    return this.json("POST", `conversations/${id}/handoff`, { reason });
  }

  close(id) {
    return this.json("POST", `conversations/${id}/close`, {});
  }

  rate(id, rating, comment) {
    return this.json("POST", `conversations/${id}/csat`, { rating, comment });
  }

  /** POST and hand each server-sent event to onEvent(name, data) as it arrives. Resolves
   * after `done`; a stream that ends without it was cut, and throws ConnectionLost. */
  async stream(path, body, onEvent) {
    const response = await this.request("POST", path, body);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const chunk = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of chunk.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (name === "done") finished = true;
          else onEvent(name, JSON.parse(data.join("\n") || "{}"));
        }
      }
    } catch (error) {
      throw new ConnectionLost(error.message);
    }
    if (!finished) throw new ConnectionLost("The reply stream ended early.");
  }
}
