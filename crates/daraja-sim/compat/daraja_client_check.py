"""daraja-client (PyPI, `from daraja_client.core import DarajaClient`) against the simulator.

The SDK takes full URLs (`auth_url`, and `stk_push_url` per call) as its README shows, so pointing it at
the simulator is just a different URL. The SDK has no STK query: the query below is plain `requests`,
built the way Daraja documents it, with a token from the SDK's own `generate_access_token`.

Quirks it has: Amount is a string as in its README ("1"; here also a price string "10.50", which the
simulator accepts with a fractional-amount warning), the Timestamp is local machine time (UTC on a
typical server, so the simulator warns), the TransactionDesc is the fixed 20-character
"MPESA ONLINE PAYMENT" (over the 13 Safaricom documents, a warning), and the Password and Timestamp
come from two separate clock reads (a push made exactly on a second boundary could mismatch them —
an SDK bug that real Daraja would refuse with "Wrong credentials" too).
"""

import base64
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

import requests
from daraja_client.core import DarajaClient
from daraja_client.utils import generate_access_token

import compat_support as c


def query(base, token, checkout_id):
    ts = datetime.now(timezone(timedelta(hours=3))).strftime("%Y%m%d%H%M%S")
    password = base64.b64encode(f"{c.SHORTCODE}{c.PASSKEY}{ts}".encode()).decode()
    resp = requests.post(
        f"{base}/mpesa/stkpushquery/v1/query",
        json={
            "BusinessShortCode": c.SHORTCODE,
            "Password": password,
            "Timestamp": ts,
            "CheckoutRequestID": checkout_id,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return resp.json()


def main():
    base = c.base_url()
    auth_url = f"{base}/oauth/v1/generate?grant_type=client_credentials"
    stk_push_url = f"{base}/mpesa/stkpush/v1/processrequest"
    receiver = c.CallbackReceiver()
    token = generate_access_token(c.CONSUMER_KEY, c.CONSUMER_SECRET, auth_url)
    c.check(bool(token), "token from /oauth/v1/generate")

    pushes = []
    for phone, expected, amount, charged in [
        ("+" + c.SUCCESS_PHONE, 0, "1", 1),
        ("+" + c.CANCEL_PHONE, 1032, "10.50", None),
    ]:
        client = DarajaClient(
            auth_url=auth_url,
            consumer_key=c.CONSUMER_KEY,
            consumer_secret=c.CONSUMER_SECRET,
            pass_key=c.PASSKEY,
            shortcode=c.SHORTCODE,
            phone_number=phone,
            call_back_url=receiver.url,
            amount=amount,
        )
        answer = client.send_stk_push(stk_push_url=stk_push_url)
        c.check(answer and answer.get("message") == "success", f"push to {phone} accepted: {answer}")
        checkout_id = answer["stkpushID"]

        callback = receiver.wait_for(checkout_id)
        c.check_callback(callback, expected, amount=charged, phone=phone.lstrip("+"))

        final = query(base, token, checkout_id)
        c.check(
            final.get("ResponseCode") == "0" and final.get("ResultCode") == str(expected),
            f"query after the callback answers ResultCode {expected}: {final}",
        )
        pushes.append(
            {
                "phone": phone.lstrip("+"),
                "checkout_request_id": checkout_id,
                "callback_result_code": callback.get("ResultCode"),
                "query_result_code": final.get("ResultCode"),
                "warnings": c.sim_warnings(base, checkout_id),
            }
        )
    receiver.close()
    c.report("daraja-client", version("daraja-client"), pushes)


if __name__ == "__main__":
    main()
