#!/usr/bin/env python3
"""A schemagate approval-webhook receiver: the documented example and the tests' receiver.

This is how a receiver verifies schemagate's signature (docs/approvals.md, "Webhooks"):

  1. Read the raw request body as bytes, before any JSON parsing (re-serialising changes it).
  2. Split the Schemagate-Signature header "t=<unix seconds>,v1=<hex>" on commas, then each item
     on the first "=". Take the one t, and every v1 (there may be several while secrets rotate).
  3. Reject the request if t is more than the tolerance (300 s) away from your clock, in either
     direction: a captured request cannot be replayed later.
  4. Compute HMAC-SHA256 with the shared secret as the key over the bytes  b"<t>." + body,
     as lower-case hex.
  5. Compare it with each v1 in constant time (hmac.compare_digest); accept if one matches.

Only then parse the body as JSON and act on it. Answer 2xx to acknowledge; for a `decide`
webhook, answer {"decision": "approve"|"deny", "reason": "...", "approver": "..."}.

Usage (the tests start it so, and so can you while trying schemagate out):

  webhook_receiver.py --port 0 --secret-file secret.txt --log deliveries.jsonl [--mode decide
      --decision approve --reason "ok" --approver alice] [--status 500] [--delay-s 2]
      [--cert server.crt --key server.key]

It prints "listening on PORT" once it accepts connections, and appends one JSON line per request
to --log: {"valid_signature": bool, "reason": str, "headers": {...}, "body": <JSON or null>}.
Standard library only.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import threading
import time

SIGNATURE_HEADER = "Schemagate-Signature"


def verify_signature(secret: bytes, header: str, body: bytes, now: float, tolerance_s: int):
    """Returns (True, "ok") or (False, why). Steps 2 to 5 of the module docstring."""
    if not header:
        return False, "no %s header" % SIGNATURE_HEADER
    timestamp = None
    candidates = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False, "malformed signature header"
        if key == "t":
            if timestamp is not None or not value.isdigit():
                return False, "malformed timestamp"
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False, "the header needs t= and v1="
    if abs(now - timestamp) > tolerance_s:
        return False, "timestamp outside the tolerance (replayed or clock skew)"
    message = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, c.lower()) for c in candidates):
        return True, "ok"
    return False, "signature mismatch"


def make_handler(args, secret: bytes, log_lock: threading.Lock):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # keep stderr quiet; the --log file is the record
            pass

        def answer(self, status: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_GET(self):  # a health check: lets a test or a human see it is up
            self.answer(200, {"status": "ok"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            if args.delay_s > 0:
                time.sleep(args.delay_s)
            valid, reason = verify_signature(secret, self.headers.get(SIGNATURE_HEADER, ""), body, time.time(),
                                             args.tolerance)
            try:
                parsed = json.loads(body) if valid else None
            except ValueError:
                parsed = None
            record = {"valid_signature": valid, "reason": reason, "path": self.path,
                      "headers": {k: v for k, v in self.headers.items()}, "body": parsed}
            if args.log:
                with log_lock, open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            if not valid:
                self.answer(401, {"error": reason})
            elif args.status:
                self.answer(args.status, {"error": "simulated HTTP %d" % args.status})
            elif args.raw_body is not None:
                data = args.raw_body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif args.mode == "decide":
                answer = {"decision": args.decision}
                if args.reason is not None:
                    answer["reason"] = args.reason
                if args.approver is not None:
                    answer["approver"] = args.approver
                self.answer(200, answer)
            else:
                self.answer(200, {"received": True})

    return Handler


def main():
    p = argparse.ArgumentParser(description="schemagate webhook receiver (signature-verifying example)")
    p.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--secret-file", required=True, help="the shared secret (surrounding whitespace stripped)")
    p.add_argument("--log", help="append one JSON line per request here")
    p.add_argument("--tolerance", type=int, default=300, help="seconds a timestamp may be off (replay window)")
    p.add_argument("--mode", choices=["notify", "decide"], default="notify")
    p.add_argument("--decision", default="approve", help="decide mode: approve or deny")
    p.add_argument("--reason")
    p.add_argument("--approver")
    p.add_argument("--status", type=int, default=0, help="answer valid requests with this HTTP status instead")
    p.add_argument("--delay-s", type=float, default=0.0, help="sleep before answering (simulates a slow receiver)")
    p.add_argument("--raw-body", help="answer valid requests with this body verbatim (simulates a bad answer)")
    p.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--key", help="and this private key (PEM)")
    args = p.parse_args()

    with open(args.secret_file, "rb") as f:
        secret = f.read().strip()
    server = http.server.ThreadingHTTPServer((args.bind, args.port), make_handler(args, secret, threading.Lock()))
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
