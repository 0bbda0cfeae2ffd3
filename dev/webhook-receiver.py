#!/usr/bin/env python3
"""A webhook receiver for trying dev/systems/outbound.json: verifies each Standard Webhooks
signature and prints the message. `--fail N` answers 503 to the first N attempts.

Usage: dev/webhook-receiver.py [--port 9099] [--secret whsec_…] [--fail N]
"""
import argparse, base64, hashlib, hmac, json, time
from http.server import BaseHTTPRequestHandler, HTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=9099)
ap.add_argument("--secret", default="whsec_c3dpdGNoYm9hcmQtZGV2LXNlY3JldC0xMjM0NTY3OA==")
ap.add_argument("--fail", type=int, default=0)
args = ap.parse_args()
key = base64.b64decode(args.secret.removeprefix("whsec_"))
failures = {"left": args.fail}


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        wid, ts = self.headers.get("webhook-id", ""), self.headers.get("webhook-timestamp", "0")
        expected = base64.b64encode(hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
        given = [s.split(",", 1)[1] for s in self.headers.get("webhook-signature", "").split() if s.startswith("v1,")]
        ok = any(hmac.compare_digest(expected, g) for g in given) and abs(time.time() - int(ts)) < 300
        if failures["left"] > 0:
            failures["left"] -= 1
            self.send_response(503)
            self.end_headers()
            print(f"{wid}: answered 503 on purpose")
            return
        self.send_response(204 if ok else 401)
        self.end_headers()
        message = json.loads(body) if ok else {}
        print(f"{wid}: {'valid' if ok else 'BAD SIGNATURE'} {message.get('from')}: {message.get('text')}")

    def log_message(self, *a):
        pass


print(f"listening on http://127.0.0.1:{args.port}/hook")
HTTPServer(("127.0.0.1", args.port), Hook).serve_forever()
