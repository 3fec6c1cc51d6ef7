"""daraja-mpesa (PyPI, `from mpesa.api.c2b import C2B`) registers C2B URLs and simulates a paybill payment
against the simulator, unchanged: its documented `sandbox_url` argument points it at the simulator.

The SDK calls the v1 paths (/mpesa/c2b/v1/registerurl and /mpesa/c2b/v1/simulate) and sends ShortCode and
Msisdn as JSON numbers. Because the URLs are registered with v1, the validation and confirmation that
follow carry the payer's number as a SHA-256 hash, which this script checks by hashing the test number.
"""

import hashlib
import json
from importlib.metadata import version

from mpesa.api.c2b import C2B

import compat_support as c

ACCOUNT = "INV-77"
AMOUNT = 100


def merchant_answer(kind):
    """The merchant: validation accepts (with a ThirdPartyTransID), confirmation acknowledges."""
    if kind == "validation":
        answer = {"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "py-1"}
    else:
        answer = {"ResultCode": 0, "ResultDesc": "Success"}
    return json.dumps(answer).encode()


def wait_for(receiver, kind, account):
    def pick(k, body):
        return body if k == kind and body.get("BillRefNumber") == account else None

    return receiver.find(pick, f"{kind} for account {account}")


def main():
    base = c.base_url()
    receiver = c.Receiver("/hooks/c2b/k3y", merchant_answer)
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

    validation = wait_for(receiver, "validation", ACCOUNT)
    confirmation = wait_for(receiver, "confirmation", ACCOUNT)
    hashed = hashlib.sha256(c.SUCCESS_PHONE.encode()).hexdigest()
    for name, body in [("validation", validation), ("confirmation", confirmation)]:
        c.check(body.get("MSISDN") == hashed, f"{name} MSISDN is the SHA-256 of {c.SUCCESS_PHONE} (v1)")
        c.check(body.get("TransAmount") == f"{AMOUNT}.00", f"{name} TransAmount {body.get('TransAmount')!r}")
        c.check(body.get("BusinessShortCode") == c.SHORTCODE, f"{name} BusinessShortCode")
        c.check(body.get("TransactionType") == "Pay Bill", f"{name} TransactionType")
    c.check(validation.get("TransID") == confirmation.get("TransID"), "one TransID for both")
    c.check(confirmation.get("ThirdPartyTransID") == "py-1", "confirmation echoes the validation's ThirdPartyTransID")
    receiver.close()
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
