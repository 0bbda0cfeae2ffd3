#!/usr/bin/env python3
"""What clients that resume from the store and never read cost the server.

Runs a `switchboard` binary on a chat system with a SQLite store, stores MESSAGES messages of
10 KB in room `big`, then opens CLIENTS raw sockets (SO_RCVBUF=4096) that send
`GET /events?room=big` (or a WebSocket handshake with `?lastEventId=1`) with
`Last-Event-ID: 1` and never read. Meanwhile a normal `GET /history?room=lobby` is timed every
200 ms. Prints the server's RSS before, at the peak with the clients connected, and 30 s after
they closed, and the slowest history answer.

    dev/bench/replay-memory.py [--binary .build/release/switchboard] [--clients 300]
                               [--messages 1500] [--transport sse|ws] [--settle 30]
"""
import argparse, json, os, socket, subprocess, sys, tempfile, threading, time, urllib.request

SYSTEM = {
    "name": "replay",
    "components": {
        "inbox": {"type": "channel", "buffer": {"size": 4096, "policy": "fixed"}},
        "fanout": {"type": "mult", "using": {"source": "inbox"}},
        "archive": {"type": "store", "path": "replay.sqlite", "using": {"source": "fanout"}},
        "http": {"type": "http-server", "host": "127.0.0.1", "port": 0, "maxConnections": 10000},
        "publish": {"type": "publish", "using": {"server": "http", "channel": "inbox", "store": "archive"}},
        "history": {"type": "history", "using": {"server": "http", "store": "archive"}},
        "events": {"type": "sse", "history": 100, "using": {"server": "http", "source": "fanout", "history": "archive"}},
        "ws": {"type": "websocket", "using": {"server": "http", "source": "fanout", "channel": "inbox", "store": "archive", "history": "archive"}},
    },
}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/switchboard")
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--messages", type=int, default=1500)
    ap.add_argument("--transport", choices=["sse", "ws"], default="sse")
    ap.add_argument("--settle", type=float, default=30)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="replay-memory-")
    with open(os.path.join(work, "system.json"), "w") as f:
        json.dump(SYSTEM, f)
    server = subprocess.Popen([os.path.abspath(a.binary), "run", "--log-level", "warning"], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 120
        while port is None and time.time() < deadline:
            try:
                out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
            except FileNotFoundError:
                sys.exit("needs ss (iproute2)")
            for line in out.splitlines():
                if f"pid={server.pid}," in line:
                    port = int(line.split()[3].rsplit(":", 1)[1])
            time.sleep(0.2)
        if port is None:
            sys.exit("the server did not start: " + server.stderr.read())
        base = f"http://127.0.0.1:{port}"

        text = "x" * 10_000
        for i in range(a.messages):
            body = json.dumps({"from": "bench", "room": "big", "text": f"{i} {text}"}).encode()
            req = urllib.request.Request(base + "/messages", data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
        urllib.request.urlopen(urllib.request.Request(base + "/messages", data=b'{"text": "hello"}',
                                                      headers={"Content-Type": "application/json"})).read()
        time.sleep(1)
        before = rss_kb(server.pid)

        slowest = [0.0]
        stop = threading.Event()

        def probe():
            while not stop.is_set():
                t = time.time()
                urllib.request.urlopen(base + "/history?room=lobby&limit=10", timeout=60).read()
                slowest[0] = max(slowest[0], time.time() - t)
                stop.wait(0.2)

        prober = threading.Thread(target=probe)
        prober.start()

        if a.transport == "sse":
            request = (f"GET /events?room=big HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\n"
                       "Accept: text/event-stream\r\n\r\n").encode()
        else:
            request = (f"GET /ws?room=big&lastEventId=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        socks = []
        for _ in range(a.clients):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            socks.append(s)
        peak = before
        t0 = time.time()
        while time.time() - t0 < 20:
            peak = max(peak, rss_kb(server.pid))
            time.sleep(0.2)
        for s in socks:
            s.close()
        time.sleep(a.settle)
        after = rss_kb(server.pid)
        stop.set()
        prober.join()
        print(json.dumps({
            "transport": a.transport, "clients": a.clients, "messages": a.messages,
            "rssBeforeMB": round(before / 1024, 1), "rssPeakMB": round(peak / 1024, 1),
            "addedMB": round((peak - before) / 1024, 1), "rssAfterMB": round(after / 1024, 1),
            "afterVsBefore": round(after / before, 3), "slowestHistoryMs": round(slowest[0] * 1000, 1),
        }))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
