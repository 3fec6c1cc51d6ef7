"""Shared helpers for the Python SDK compatibility scripts (standard library only).

The scripts drive a third-party Daraja SDK against a running simulator whose base URL is in
SIM_BASE_URL, receive the real callbacks on a local HTTP receiver, and print one final line
`COMPAT-RESULT {json}` that tests/compat.rs reads. Any failed check exits non-zero.
"""

import json
import os
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What the simulator accepts by default: the public sandbox shortcode and passkey, any key/secret.
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
CONSUMER_KEY = "compat-key"
CONSUMER_SECRET = "compat-secret"
# Deterministic test numbers: success after the result delay, and "cancelled by user" (1032).
SUCCESS_PHONE = "254708374149"
CANCEL_PHONE = "254700001032"
DEADLINE_SECS = 20.0


def base_url():
    base = os.environ.get("SIM_BASE_URL", "").rstrip("/")
    if not base:
        fail("SIM_BASE_URL is not set")
    return base


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}", flush=True)


# What a receiver answers a callback with, unless told otherwise.
ACCEPTED = b'{"ResultCode":0,"ResultDesc":"Accepted"}'


class Receiver:
    """A tiny HTTP server on 127.0.0.1:0 (`url` ends in `path`) collecting the JSON bodies POSTed to it, each
    with its kind (the last part of the path it was POSTed to), and answering `answer(kind)`."""

    def __init__(self, path, answer=lambda kind: ACCEPTED):
        self.got = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                kind = self.path.rsplit("/", 1)[-1]
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                with receiver.lock:
                    receiver.got.append((kind, body))
                data = answer(kind)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def find(self, pick, what):
        """The first `pick(kind, body)` that is not None, waiting up to DEADLINE_SECS for `what`."""
        start = time.monotonic()
        while time.monotonic() - start < DEADLINE_SECS:
            with self.lock:
                for kind, body in self.got:
                    hit = pick(kind, body)
                    if hit is not None:
                        return hit
            time.sleep(0.02)
        fail(f"no {what} within {DEADLINE_SECS}s")

    def close(self):
        self.server.shutdown()


class CallbackReceiver(Receiver):
    """A receiver for STK callbacks (and money-out results)."""

    def __init__(self):
        super().__init__("/hooks/stk/order-1")

    def wait_for(self, checkout_request_id):
        """The stkCallback for this push, waiting up to DEADLINE_SECS."""

        def pick(_kind, body):
            cb = body.get("Body", {}).get("stkCallback", {})
            return cb if cb.get("CheckoutRequestID") == checkout_request_id else None

        return self.find(pick, f"callback for {checkout_request_id}")


def sim_warnings(base, checkout_request_id):
    """The warnings the simulator logged for one push (GET /sim/api/log?kind=warning)."""
    with urllib.request.urlopen(f"{base}/sim/api/log?kind=warning", timeout=10) as resp:
        entries = json.load(resp)
    return [e["message"] for e in entries if e.get("checkout_request_id") == checkout_request_id]


def metadata(callback):
    """CallbackMetadata as a dict name -> value."""
    items = callback.get("CallbackMetadata", {}).get("Item", [])
    return {i.get("Name"): i.get("Value") for i in items}


def check_callback(callback, expected_code, amount=None, phone=None):
    code = callback.get("ResultCode")
    check(code == expected_code, f"callback ResultCode {code!r} == {expected_code}")
    if expected_code == 0:
        meta = metadata(callback)
        check(bool(meta.get("MpesaReceiptNumber")), "success callback carries an MpesaReceiptNumber")
        if amount is not None:
            check(meta.get("Amount") == amount, f"callback Amount {meta.get('Amount')!r} == {amount}")
        if phone is not None:
            check(str(meta.get("PhoneNumber")) == phone, f"callback PhoneNumber == {phone}")
    else:
        check("CallbackMetadata" not in callback, "failed callback has no CallbackMetadata")


def is_pending(answer):
    """Daraja's answer to an STK query while the customer has not decided yet."""
    return (
        isinstance(answer, dict)
        and answer.get("errorCode") == "500.001.1001"
        and "being processed" in answer.get("errorMessage", "")
    )


def report(sdk, version, pushes):
    print("COMPAT-RESULT " + json.dumps({"sdk": sdk, "version": version, "pushes": pushes}), flush=True)
