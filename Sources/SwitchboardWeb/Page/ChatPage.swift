/// The chat page: plain HTML, CSS and JavaScript in one document, served by the binary,
/// nothing loaded from elsewhere. `{{CONFIG}}` becomes the endpoints' JSON.
enum ChatPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<link rel="icon" type="image/svg+xml" href="{{ICON}}">
<style>
  :root { --bg: #f6f7f9; --fg: #1d2330; --muted: #6b7385; --accent: #2f6fde; --card: #fff; --line: #e2e5ea; }
  * { box-sizing: border-box; }
  /* Text fonts first, then the common color-emoji fonts, so :) shows as 🙂 where any is installed. */
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif,
         "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", "Twemoji Mozilla", "EmojiOne Color", "Android Emoji";
         background: var(--bg); color: var(--fg);
         display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; align-items: center; gap: .75rem; padding: .6rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.05rem; margin: 0; flex: 1; }
  #status { font-size: .8rem; color: var(--muted); }
  #status.live::before { content: "● "; color: #1a9c55; }
  #status.down::before { content: "● "; color: #c83c3c; }
  main { flex: 1; overflow-y: auto; padding: .75rem 1rem; }
  #messages { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: .4rem; }
  #messages li { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .4rem .65rem; max-width: 52rem; }
  #messages li.notice { background: transparent; border: none; color: var(--muted); font-style: italic; font-size: .85rem; }
  .meta { font-size: .78rem; color: var(--muted); display: flex; gap: .5rem; }
  .from { font-weight: 600; color: var(--accent); }
  .text { white-space: pre-wrap; word-wrap: break-word; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef0f4; padding: 0 .25rem; border-radius: 4px; }
  form { display: flex; gap: .5rem; padding: .6rem 1rem; background: var(--card); border-top: 1px solid var(--line); flex-wrap: wrap; }
  input, select, button { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; }
  #name { width: 9rem; }
  #text { flex: 1; min-width: 12rem; }
  button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
  #earlier { text-align: center; }
  #earlier button { background: var(--card); color: var(--accent); }
  #error { color: #c83c3c; font-size: .85rem; width: 100%; min-height: 1em; }
  #messages li.private { border-color: #b9a3e3; background: #f7f3ff; }
  .to { color: #7a52c7; }
  #token { width: 14rem; }
  #online { padding: .35rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); font-size: .85rem; color: var(--muted); }
  #online button { background: none; border: none; color: var(--accent); padding: 0 .3rem; cursor: pointer; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>{{TITLE}}</h1>
  <label>room <input id="room" size="10" placeholder="all rooms"></label>
  <input id="token" placeholder="paste your token" hidden>
  <span id="status" class="down">connecting…</span>
</header>
<div id="online" hidden>online: <span id="people"></span></div>
<main><ul id="messages" aria-live="polite"><li class="notice" id="empty">No messages yet. Say something below: everyone with this page open sees it.</li></ul></main>
<form id="composer" autocomplete="off">
  <input id="name" placeholder="your name" maxlength="100" required>
  <input id="text" placeholder="say something (`code` in backticks, /msg name text to one person)" required>
  <select id="transport" title="how to send"><option value="post">POST</option><option value="ws">WebSocket</option></select>
  <button id="send" type="submit">Send</button>
  <div id="error" role="alert"></div>
</form>
<script id="config" type="application/json">{{CONFIG}}</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const list = $("messages"), statusEl = $("status"), errorEl = $("error");
const seen = new Set();
let lastId = null, source = null, socket = null, retryTimer = null;

$("name").value = localStorage.getItem("switchboard.name") || "";
if (!config.websocket) $("transport").querySelector('[value="ws"]').remove();

// With auth the server says who you are: the token (kept in this browser) names you, and
// every request carries it (EventSource and WebSocket cannot send headers: ?token=).
const token = config.auth ? (new URLSearchParams(location.search).get("token") || localStorage.getItem("switchboard.token") || "") : "";
if (config.auth) {
  $("token").hidden = false;
  $("token").value = token;
  $("token").addEventListener("change", () => { localStorage.setItem("switchboard.token", $("token").value.trim()); location.reload(); });
  $("name").readOnly = true;
  try { $("name").value = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub || ""; } catch (err) { $("name").value = ""; }
  if (token) localStorage.setItem("switchboard.token", token);
}
function headers(extra) { return Object.assign(config.auth && token ? { Authorization: "Bearer " + token } : {}, extra || {}); }
// Who you are to the server: your token, or (an open server) the name you typed.
function identify(params) {
  if (config.auth) { if (token) params.set("token", token); }
  else if ($("name").value.trim()) params.set("name", $("name").value.trim());
  return params;
}

function setStatus(text, live) { statusEl.textContent = text; statusEl.className = live ? "live" : "down"; }

// Builds the message's text as DOM nodes: never HTML, so no markup in a message can run.
function renderText(target, text, spans) {
  const code = (spans || []).filter((s) => s.kind === "code").sort((a, b) => a.start - b.start);
  let at = 0;
  for (const s of code) {
    if (s.start < at) continue;
    target.append(document.createTextNode(text.slice(at, s.start)));
    const c = document.createElement("code");
    c.textContent = text.slice(s.start, s.start + s.length);
    target.append(c);
    at = s.start + s.length;
  }
  target.append(document.createTextNode(text.slice(at)));
}

// Adds a message at the bottom, or at the top (under "load earlier") for an older page.
function show(m, older) {
  if (!m || !m.id || seen.has(m.id)) return;
  seen.add(m.id);
  const li = document.createElement("li");
  li.dataset.id = m.id;
  const meta = document.createElement("div");
  meta.className = "meta";
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = m.from;
  const time = document.createElement("time");
  time.dateTime = m.time;
  time.textContent = new Date(m.time).toLocaleTimeString();
  meta.append(from);
  if (m.to) { const to = document.createElement("span"); to.className = "to"; to.textContent = "→ " + m.to + " (private)"; meta.append(to); li.classList.add("private"); }
  meta.append(time);
  if (m.room) { const r = document.createElement("span"); r.textContent = "#" + m.room; meta.append(r); }
  const text = document.createElement("div");
  text.className = "text";
  renderText(text, m.text, m.spans);
  li.append(meta, text);
  const empty = $("empty");
  if (empty) empty.remove();
  if (older) {
    const top = $("earlier");
    if (top) top.after(li); else list.prepend(li);
    return;
  }
  const atBottom = list.parentElement.scrollHeight - list.parentElement.scrollTop - list.parentElement.clientHeight < 40;
  list.append(li);
  if (atBottom) li.scrollIntoView({ block: "end" });
}

// History (when the page has a history endpoint): the room's last 50 messages on open, and
// older pages on demand. The stream then resumes from the newest of them.
let earlier = null;
async function fetchHistory(params) {
  const room = $("room").value.trim();
  if (room) params.set("room", room);
  if (!config.auth && $("name").value.trim()) params.set("name", $("name").value.trim());
  const r = await fetch(config.history + "?" + params, { headers: headers() });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}
function setEarlier(next) {
  earlier = next;
  let li = $("earlier");
  if (!next) { if (li) li.remove(); return; }
  if (!li) {
    li = document.createElement("li");
    li.id = "earlier";
    li.className = "notice";
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Load earlier messages";
    b.addEventListener("click", loadEarlier);
    li.append(b);
  }
  list.prepend(li);
}
async function loadHistory() {
  if (!config.history) return;
  try {
    const page = await fetchHistory(new URLSearchParams({ limit: "50" }));
    for (const m of page.messages.slice().reverse()) show(m);
    if (page.messages.length) lastId = page.messages[0].id;
    setEarlier(page.next);
  } catch (err) { notice("History is not available: " + err.message); }
}
async function loadEarlier() {
  if (!earlier) return;
  try {
    const page = await fetchHistory(new URLSearchParams({ limit: "50", before: earlier }));
    for (const m of page.messages) show(m, true);
    setEarlier(page.next);
  } catch (err) { errorEl.textContent = "Could not load earlier messages: " + err.message; }
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  list.append(li);
}

// EventSource resumes by itself with Last-Event-ID; when the server answers a reconnect with
// an error (a restart, say) it gives up, so we reopen it ourselves from the last id seen.
function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  const params = new URLSearchParams();
  const room = $("room").value.trim();
  if (room) params.set("room", room);
  if (lastId) params.set("lastEventId", lastId);
  identify(params);
  source = new EventSource(config.events + (params.toString() ? "?" + params : ""));
  source.onopen = () => setStatus("live", true);
  source.addEventListener(config.event || "message", (e) => {
    lastId = e.lastEventId || lastId;
    try { show(JSON.parse(e.data)); } catch (err) { console.warn("bad event", err); }
  });
  source.addEventListener("gap", () => notice("Some messages were missed while you were away."));
  source.addEventListener("presence", (e) => { try { showOnline(JSON.parse(e.data).online); } catch (err) {} });
  source.onerror = () => {
    setStatus("reconnecting…", false);
    if (source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 2000);
  };
}

function openSocket(name) {
  return new Promise((resolve, reject) => {
    if (socket && socket.readyState === WebSocket.OPEN && socket.name === name) return resolve(socket);
    if (socket) socket.close();
    const url = new URL(config.websocket, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (config.auth) url.searchParams.set("token", token); else url.searchParams.set("name", name);
    const ws = new WebSocket(url);
    ws.name = name;
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("WebSocket failed"));
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === "message") show(f);
      else if (f.type === "error") errorEl.textContent = f.error;
    };
    socket = ws;
  });
}

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  errorEl.textContent = "";
  const name = $("name").value.trim(), text = $("text").value;
  if (!name || !text.trim()) return;
  localStorage.setItem("switchboard.name", name);
  const room = $("room").value.trim() || undefined;
  // "/msg bob see you" goes to bob alone (and to you).
  const direct = text.match(/^\/msg\s+(\S+)\s+([\s\S]+)$/);
  const message = direct ? { text: direct[2], to: direct[1], room } : { text, room };
  try {
    if ($("transport").value === "ws") {
      (await openSocket(name)).send(JSON.stringify(message));
    } else {
      const body = config.auth ? message : Object.assign({ from: name }, message);
      const r = await fetch(config.publish, { method: "POST", headers: headers({ "Content-Type": "application/json" }),
                                              body: JSON.stringify(body) });
      if (!r.ok) { const body = await r.json().catch(() => ({})); throw new Error(body.error || r.statusText); }
    }
    $("text").value = "";
  } catch (err) {
    errorEl.textContent = "Not sent: " + err.message;
  }
});

function showEmpty() {
  const room = $("room").value.trim();
  const li = document.createElement("li");
  li.className = "notice";
  li.id = "empty";
  li.textContent = room ? "No messages in #" + room + " yet." : "No messages yet. Say something below: everyone with this page open sees it.";
  list.append(li);
}

// Who is online (with a presence endpoint): the room's list on open, then each join and
// leave; a click on a name starts a private message.
function showOnline(names) {
  const people = $("people");
  people.textContent = "";
  for (const n of names || []) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = n;
    b.addEventListener("click", () => { $("text").value = "/msg " + n + " "; $("text").focus(); });
    people.append(b);
  }
}
async function loadOnline() {
  if (!config.presence) return;
  $("online").hidden = false;
  const params = new URLSearchParams({ room: $("room").value.trim() || "lobby" });
  const r = await fetch(config.presence + "?" + params, { headers: headers() }).catch(() => null);
  if (r && r.ok) showOnline((await r.json()).online);
}

function start() {
  if (config.auth && !token) {
    setStatus("needs a token", false);
    notice("This chat needs a token: paste yours above (for development: switchboard token --sub yourname).");
    return;
  }
  loadHistory().then(connect).then(loadOnline);
}
$("room").addEventListener("change", async () => {
  list.textContent = ""; showEmpty(); seen.clear(); lastId = null; earlier = null;
  start();
});
start();
</script>
</body>
</html>
"""#
}
