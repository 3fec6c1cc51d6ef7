"""daraja-mpesa (PyPI, `from mpesa.api.c2b import C2B`) registers C2B URLs and simulates a paybill payment
against the simulator, unchanged: its documented `sandbox_url` argument points it at the simulator.

The SDK calls the v1 paths (/mpesa/c2b/v1/registerurl and /mpesa/c2b/v1/simulate) and sends ShortCode and
Msisdn as JSON numbers. Because the URLs are registered with v1, the validation and confirmation that
follow carry the payer's number as a SHA-256 hash, which this script checks by hashing the test number.
"""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

from mpesa.api.c2b import C2B

import compat_support as c

ACCOUNT = "INV-77"
AMOUNT = 100


class C2bReceiver:
    """The merchant: /c2b/validation accepts (with a ThirdPartyTransID), /c2b/confirmation acknowledges."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.path.rsplit("/", 1)[-1]
                with receiver.lock:
                    receiver.got.append((kind, json.loads(raw)))
                if kind == "validation":
                    answer = {"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "py-1"}
                else:
                    answer = {"ResultCode": 0, "ResultDesc": "Success"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/c2b/k3y"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, kind, account):
        start = time.monotonic()
        while time.monotonic() - start < c.DEADLINE_SECS:
            with self.lock:
                for k, body in self.got:
                    if k == kind and body.get("BillRefNumber") == account:
                        return body
            time.sleep(0.02)
        c.fail(f"no {kind} for account {account} within {c.DEADLINE_SECS}s")


def main():
    base = c.base_url()
    receiver = C2bReceiver()
    c2b = C2B(env="sandbox", app_key=c.CONSUMER_KEY, app_secret=c.CONSUMER_SECRET, sandbox_url=base)
    c.check(bool(c2b.authentication_token), "token from /oauth/v1/generate")

    registered = c2b.register(
        shortcode=int(c.SHORTCODE),
        response_type="Completed",
        confirmation_url=receiver.url + "/confirmation",
        validation_url=receiver.url + "/validation",
    )
    c.check(registered.get("ResponseCode") == "0", f"register URLs accepted: {registered}")

    simulated = c2b.simulate(
        shortcode=int(c.SHORTCODE),
        command_id="CustomerPayBillOnline",
        amount=AMOUNT,
        msisdn=int(c.SUCCESS_PHONE),
        bill_ref_number=ACCOUNT,
    )
    c.check(simulated.get("ResponseCode") == "0", f"simulate accepted: {simulated}")
    c.check(bool(simulated.get("OriginatorCoversationID")), "simulate answers an OriginatorCoversationID")

    validation = receiver.wait_for("validation", ACCOUNT)
    confirmation = receiver.wait_for("confirmation", ACCOUNT)
    hashed = hashlib.sha256(c.SUCCESS_PHONE.encode()).hexdigest()
    for name, body in [("validation", validation), ("confirmation", confirmation)]:
        c.check(body.get("MSISDN") == hashed, f"{name} MSISDN is the SHA-256 of {c.SUCCESS_PHONE} (v1)")
        c.check(body.get("TransAmount") == f"{AMOUNT}.00", f"{name} TransAmount {body.get('TransAmount')!r}")
        c.check(body.get("BusinessShortCode") == c.SHORTCODE, f"{name} BusinessShortCode")
        c.check(body.get("TransactionType") == "Pay Bill", f"{name} TransactionType")
    c.check(validation.get("TransID") == confirmation.get("TransID"), "one TransID for both")
    c.check(confirmation.get("ThirdPartyTransID") == "py-1", "confirmation echoes the validation's ThirdPartyTransID")
    receiver.server.shutdown()
    print(
        "COMPAT-RESULT "
        + json.dumps(
            {
                "sdk": "daraja-mpesa",
                "version": version("daraja-mpesa"),
                "c2b": {"trans_id": confirmation["TransID"], "account": ACCOUNT, "amount": AMOUNT},
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
