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
  #online { font-size: .85rem; color: var(--muted); }
  #messages li.mine { align-self: flex-end; background: #eaf1ff; border-color: #c5d8fb; }
  #messages li.mine .from { color: #1d4fa8; }
  #online button { background: none; border: none; color: var(--accent); padding: 0 .3rem; cursor: pointer; }
  #rooms { display: flex; gap: .35rem; padding: .35rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  #rooms button { background: none; color: var(--fg); border: 1px solid transparent; padding: .15rem .55rem; border-radius: 999px; font-size: .85rem; }
  #rooms button[aria-current="true"] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
  #rooms .unread { background: #c83c3c; color: #fff; border-radius: 999px; padding: 0 .4rem; margin-left: .3rem; font-size: .75rem; font-weight: 600; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>{{TITLE}}</h1>
  <label title="empty: read every room, and send to the lobby">room <input id="room" size="14" placeholder="all (send: lobby)"></label>
  <span id="online" hidden>online: <span id="people"></span></span>
  <input id="token" placeholder="paste your token" hidden>
  <span id="status" class="down">connecting…</span>
</header>
<nav id="rooms" aria-label="rooms"></nav>
<main><ul id="messages" aria-live="polite"><li class="notice" id="empty">No messages yet. Say something below: everyone with this page open sees it.</li></ul></main>
<form id="composer" autocomplete="off">
  <input id="name" placeholder="your name" maxlength="100" required>
  <input id="text" placeholder="say something (`code` in backticks, /msg name text to one person)" required>
  <button id="send" type="submit">Send</button>
  <div id="error" role="alert"></div>
</form>
<script id="config" type="application/json">{{CONFIG}}</script>
<script type="module">
// The connection is switchboard.js's (served beside this page): reconnect, resume, acks.
const { Switchboard } = await import(JSON.parse(document.getElementById("config").textContent).client);
const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const list = $("messages"), statusEl = $("status"), errorEl = $("error");
const seen = new Set();
let lastId = null, client = null;
// The page reads every room it may (one connection) and shows the one chosen; what arrives in
// another room is counted there as unread. A message without a room is in the lobby.
const DEFAULT_ROOM = "lobby";
const roomOf = (m) => m.room || DEFAULT_ROOM;
const viewing = () => $("room").value.trim();
const visible = (m) => !viewing() || roomOf(m) === viewing();
const unread = new Map();
const title = document.title;
let known = [];
try { known = JSON.parse(localStorage.getItem("switchboard.rooms") || "[]").filter((r) => typeof r === "string"); } catch (err) { known = []; }
// While a room's history loads, what arrives live for it waits, so that it lands below.
let loading = false, held = [];
// For the browser tests (and the curious, in the developer console).
window.config = config;

$("name").value = localStorage.getItem("switchboard.name") || "";

// With auth the server says who you are: the token (kept in this browser) names you, and
// every request carries it: a header on fetch, a subprotocol on the WebSocket, and ?token= on
// EventSource only (it cannot send headers).
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
  if (m.from && m.from === $("name").value.trim()) li.classList.add("mine");
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
    // The newest at the bottom, in view.
    list.parentElement.scrollTop = list.parentElement.scrollHeight;
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

// A message from the client: shown when it is in the room on view, else counted as unread in
// its room (your own messages never are).
function received(m) {
  const room = roomOf(m);
  if (visible(m)) {
    if (loading) held.push(m); else show(m);
  } else if (!(m.from && m.from === $("name").value.trim())) {
    unread.set(room, (unread.get(room) || 0) + 1);
  }
  remember(room);
  showRooms();
}

// The rooms bar: every room, then the twelve seen last (kept in this browser), each with
// what is unread in it; the page's title counts them all. A room leaves the bar only when it
// is neither on view nor unread (so no count is hidden), and the bar never passes 50.
function remember(room) {
  if (!room || known.includes(room)) return;
  known.push(room);
  while (known.length > 12) {
    const quiet = known.findIndex((r) => r !== viewing() && !unread.get(r));
    if (quiet < 0 && known.length <= 50) break;
    const [gone] = known.splice(quiet < 0 ? 0 : quiet, 1);
    unread.delete(gone);
  }
  localStorage.setItem("switchboard.rooms", JSON.stringify(known));
}
function showRooms() {
  const nav = $("rooms");
  nav.textContent = "";
  for (const room of ["", ...known]) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.room = room;
    b.textContent = room ? "#" + room : "all rooms";
    b.setAttribute("aria-current", String(room === viewing()));
    const n = room ? unread.get(room) || 0 : 0;
    if (n) { const badge = document.createElement("span"); badge.className = "unread"; badge.textContent = n > 99 ? "99+" : String(n); b.append(badge); }
    b.addEventListener("click", () => { if (room !== viewing()) { $("room").value = room; switchRoom(); } });
    nav.append(b);
  }
  let total = 0;
  for (const n of unread.values()) total += n;
  document.title = total ? "(" + total + ") " + title : title;
}

// One client for the page's lifetime: it receives over the WebSocket (or SSE), reconnects with
// backoff and resumes after the newest message it saw; a room change only moves where the
// server counts you present.
function connect() {
  if (client) return;
  client = new Switchboard({
    websocket: config.websocket, events: config.events, publish: config.publish, history: config.history,
    event: config.event, room: null, presence: viewing() || null, name: $("name").value.trim() || null,
    token: config.auth ? () => token : null, lastId,
  });
  window.switchboard = client;
  client.addEventListener("message", (e) => received(e.detail));
  client.addEventListener("status", (e) => setStatus(e.detail.state === "live" ? "live" : e.detail.state + "…", e.detail.state === "live"));
  client.addEventListener("presence", (e) => { if (e.detail.room === (viewing() || DEFAULT_ROOM)) showOnline(e.detail.online); });
  client.addEventListener("gap", () => notice("Some messages were missed while you were away."));
  client.addEventListener("error", (e) => { errorEl.textContent = e.detail.error; });
  client.connect();
}
$("name").addEventListener("change", () => { if (client) client.options.name = $("name").value.trim() || null; });

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
    // Over the client's WebSocket with its ack (the name first, for an open server), or a
    // POST when there is none.
    client.options.name = name;
    await client.publish(config.auth || client.transport !== "websocket" ? message : Object.assign({ name }, message));
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
  remember(viewing());
  showRooms();
  loadHistory().then(connect).then(loadOnline);
}
// Another room: its history, then what arrives for it live; its unread count is cleared.
async function switchRoom() {
  list.textContent = ""; showEmpty(); seen.clear(); earlier = null; errorEl.textContent = "";
  unread.delete(viewing());
  remember(viewing());
  showRooms();
  if (config.auth && !token) return;
  loading = true; held = [];
  await loadHistory();
  loading = false;
  for (const m of held) show(m);
  held = [];
  if (client) client.setPresence(viewing() || null);
  loadOnline();
}
$("room").addEventListener("change", switchRoom);
start();
</script>
</body>
</html>
"""#
}
