/// `switchboard.js`: the browser client, an ES module the `page` component serves beside the
/// page (no build step, no dependency). The chat page uses it; so can any page of one's own:
///
/// ```js
/// import { Switchboard } from "/switchboard.js";
/// const chat = new Switchboard({ room: "lobby", name: "ann" });   // or token: async () => jwt
/// chat.addEventListener("message", (e) => console.log(e.detail.from, e.detail.text));
/// chat.addEventListener("status", (e) => console.log(e.detail.state));   // connecting, live, reconnecting, closed
/// chat.connect();
/// const ack = await chat.publish({ text: "hi" });                    // {id, status}
/// ```
///
/// It receives over a WebSocket (or Server-Sent Events where no WebSocket endpoint is given, or
/// where one cannot open), reconnects with a jittered backoff (Phoenix's schedule: 10 ms up to
/// 2 s, then every 5 s), resumes from the last id it saw and fetches a gap the server reports
/// from the `history` endpoint, drops a message it has already shown, publishes with the
/// server's ack (a `ref` on the WebSocket, a POST otherwise), and asks its `token` function for a
/// fresh token before the current one expires (an `auth` frame on the WebSocket; a reconnect on
/// SSE). Written here rather than taken from a package: the mirror has no browser client, and
/// the protocol is this server's own.
enum ClientScript {
    static let source = #"""
// switchboard.js — the Switchboard browser client (an ES module; no build step).
const BACKOFF = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];

function jitter(ms) { return Math.round(ms * (0.5 + Math.random())); }

// The expiry (ms since the epoch) of a JWT, or null.
function expiryOf(token) {
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch (err) { return null; }
}

export class Switchboard extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = Object.assign({
      websocket: "/ws", events: "/events", publish: "/messages", history: "/history",
      event: "message", room: null, presence: null, name: null, token: null, transports: ["websocket", "sse"],
    }, options);
    if (!this.options.websocket) this.options.transports = this.options.transports.filter((t) => t !== "websocket");
    if (!this.options.events) this.options.transports = this.options.transports.filter((t) => t !== "sse");
    this.lastId = options.lastId || null;
    this.seen = new Set();
    this.order = [];
    this.attempt = 0;
    this.transport = null;
    this.socket = null;
    this.source = null;
    this.pending = new Map();
    this.nextRef = 1;
    this.timer = null;
    this.refreshTimer = null;
    this.closed = true;
    this.wsFailures = 0;
    this.currentToken = null;
  }

  get state() { return this._state || "closed"; }
  setState(state) {
    if (this._state === state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, transport: this.transport } }));
  }

  async token() {
    const t = this.options.token;
    if (!t) return null;
    this.currentToken = typeof t === "function" ? await t() : t;
    return this.currentToken;
  }

  connect() {
    this.closed = false;
    this.open();
    return this;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    if (this.socket) { this.socket.onclose = null; this.socket.close(1000); this.socket = null; }
    if (this.source) { this.source.close(); this.source = null; }
    for (const [, p] of this.pending) p.reject(new Error("closed"));
    this.pending.clear();
    this.setState("closed");
  }

  // Another room: only its messages from now on (the stream is reopened for it).
  setRoom(room) {
    this.options.room = room || null;
    this.lastId = null;
    this.seen.clear();
    this.order = [];
    if (!this.closed) { this.teardown(); this.attempt = 0; this.open(); }
  }

  // Counted as present in another room (the stream and what it has seen stay: it resumes).
  setPresence(room) {
    this.options.presence = room || null;
    if (!this.closed) { this.teardown(); this.attempt = 0; this.open(); }
  }

  teardown() {
    clearTimeout(this.timer);
    if (this.socket) { this.socket.onclose = null; this.socket.onerror = null; this.socket.close(1000); this.socket = null; }
    if (this.source) { this.source.close(); this.source = null; }
  }

  url(path, params) {
    const u = new URL(path, location.href);
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.searchParams.set(k, v);
    return u;
  }

  async open() {
    if (this.closed) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const useSocket = this.options.transports.includes("websocket") && (this.wsFailures < 2 || !this.options.transports.includes("sse"));
    let token;
    try { token = await this.token(); } catch (err) { return this.retry(); }
    if (this.closed) return;
    this.scheduleRefresh(token);
    if (useSocket) this.openSocket(token); else this.openEvents(token);
  }

  retry() {
    if (this.closed) return;
    const base = this.attempt < BACKOFF.length ? BACKOFF[this.attempt] : 5000;
    this.attempt += 1;
    this.setState("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), jitter(base));
  }

  openSocket(token) {
    this.transport = "websocket";
    const u = this.url(this.options.websocket, { room: this.options.room, presence: this.options.presence, lastEventId: this.lastId,
                                                 name: token ? null : this.options.name });
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    // The token as a subprotocol: out of the URL and the access logs.
    const ws = token ? new WebSocket(u, ["switchboard.v1", "bearer." + token]) : new WebSocket(u);
    let opened = false;
    ws.onopen = () => { opened = true; this.wsFailures = 0; this.attempt = 0; this.setState("live"); };
    ws.onmessage = (e) => this.frame(JSON.parse(e.data));
    ws.onclose = (e) => {
      if (this.socket !== ws) return;
      this.socket = null;
      for (const [, p] of this.pending) p.reject(new Error("the connection closed before the ack"));
      this.pending.clear();
      if (!opened) this.wsFailures += 1;
      if (this.closed) return;
      // 4001: the token expired; the next open asks for a fresh one at once.
      if (e.code === 4001) { this.attempt = 0; return this.open(); }
      this.retry();
    };
    this.socket = ws;
  }

  openEvents(token) {
    this.transport = "sse";
    // EventSource cannot send headers: the token goes in the URL (the endpoint's allowQueryToken).
    const u = this.url(this.options.events, { room: this.options.room, presence: this.options.presence, lastEventId: this.lastId,
                                                token: token || null, name: token ? null : this.options.name });
    const es = new EventSource(u);
    es.onopen = () => { this.attempt = 0; this.setState("live"); };
    es.addEventListener(this.options.event, (e) => {
      try { this.deliver(JSON.parse(e.data)); } catch (err) { /* not JSON: not ours */ }
    });
    es.addEventListener("presence", (e) => { try { this.dispatchEvent(new CustomEvent("presence", { detail: JSON.parse(e.data) })); } catch (err) {} });
    es.addEventListener("gap", () => this.fillGap());
    es.addEventListener("expired", () => { es.close(); this.source = null; this.attempt = 0; this.open(); });
    // EventSource retries by itself, but gives up on an error answer and resumes from its own
    // last id: we reopen it ourselves, from ours.
    es.onerror = () => { if (this.source !== es) return; es.close(); this.source = null; this.retry(); };
    this.source = es;
  }

  frame(f) {
    if (f.type === "message") return this.deliver(f);
    if (f.type === "presence") return this.dispatchEvent(new CustomEvent("presence", { detail: f }));
    if (f.type === "resumed") { if (f.gap) this.fillGap(); return; }
    if (f.ref !== undefined && this.pending.has(String(f.ref))) {
      const p = this.pending.get(String(f.ref));
      this.pending.delete(String(f.ref));
      if (f.type === "ack") p.resolve({ id: f.id, status: f.status }); else p.reject(Object.assign(new Error(f.error || "refused"), { frame: f }));
      return;
    }
    if (f.type === "error") this.dispatchEvent(new CustomEvent("error", { detail: f }));
  }

  // A message once: by id, whatever the path (live, resume, a gap's history).
  deliver(m) {
    if (m.id) {
      if (this.seen.has(m.id)) return;
      this.seen.add(m.id);
      this.order.push(m.id);
      if (this.order.length > 2000) this.seen.delete(this.order.shift());
      if (!this.lastId || BigInt(m.id) > BigInt(this.lastId)) this.lastId = m.id;
    }
    this.dispatchEvent(new CustomEvent("message", { detail: m }));
  }

  // The server could not resume from our last id (its memory does not reach back): fetch
  // what came after it from the history endpoint, page by page.
  async fillGap() {
    this.dispatchEvent(new CustomEvent("gap", { detail: { after: this.lastId } }));
    if (!this.options.history || !this.lastId) return;
    let after = this.lastId;
    for (let page = 0; page < 20 && after; page++) {
      const headers = this.currentToken ? { Authorization: "Bearer " + this.currentToken } : {};
      const r = await fetch(this.url(this.options.history, { after, room: this.options.room, limit: 500 }), { headers }).catch(() => null);
      if (!r || !r.ok) return;
      const body = await r.json();
      for (const m of body.messages) this.deliver(m);
      after = body.next;
    }
  }

  // Sends a message; resolves with the server's ack ({id, status}), rejects with its reason.
  async publish(message) {
    const ws = this.socket;
    if (ws && ws.readyState === WebSocket.OPEN && this.transport === "websocket") {
      const ref = String(this.nextRef++);
      return new Promise((resolve, reject) => {
        this.pending.set(ref, { resolve, reject });
        ws.send(JSON.stringify(Object.assign({}, message, { ref })));
      });
    }
    const token = this.currentToken || (await this.token());
    const body = token ? message : Object.assign({ from: this.options.name }, message);
    const headers = Object.assign({ "Content-Type": "application/json" }, token ? { Authorization: "Bearer " + token } : {});
    const r = await fetch(this.url(this.options.publish, {}), { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(answer.error || r.statusText), { status: r.status, answer });
    return answer;
  }

  // Before the token expires (at 80 % of what is left, at least 5 s ahead), a fresh one: an
  // auth frame on the WebSocket, a reconnect (which resumes) on SSE.
  scheduleRefresh(token) {
    clearTimeout(this.refreshTimer);
    if (typeof this.options.token !== "function" || !token) return;
    const exp = expiryOf(token);
    if (!exp) return;
    const left = exp - Date.now();
    const wait = Math.max(1000, Math.min(left * 0.8, left - 5000));
    this.refreshTimer = setTimeout(async () => {
      if (this.closed) return;
      let fresh;
      try { fresh = await this.token(); } catch (err) { return this.scheduleRefresh(token); }
      if (this.transport === "websocket" && this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ type: "auth", token: fresh }));
        this.scheduleRefresh(fresh);
      } else {
        this.teardown();
        this.attempt = 0;
        this.open();
      }
    }, wait);
  }
}
"""#
}
