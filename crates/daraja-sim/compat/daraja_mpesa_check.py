"""daraja-mpesa (PyPI, `from mpesa.api.mpesa_express import MpesaExpress`) against the simulator.

The SDK's documented constructor argument `sandbox_url` points it at the simulator; nothing else
changes. Used the way its README shows: MpesaExpress(env, app_key, app_secret, sandbox_url) fetches a
token in the constructor, stk_push(...) and query(...) return Daraja's JSON.

Quirks it has (the simulator accepts them; Daraja does too, or may): BusinessShortCode, PartyA and
PhoneNumber are sent as JSON numbers, and the Timestamp is the machine's local time (UTC on a
typical server), not East Africa Time, which the simulator warns about.
"""

from importlib.metadata import version

from mpesa.api.mpesa_express import MpesaExpress

import compat_support as c


def main():
    base = c.base_url()
    receiver = c.CallbackReceiver()
    express = MpesaExpress(
        env="sandbox",
        app_key=c.CONSUMER_KEY,
        app_secret=c.CONSUMER_SECRET,
        sandbox_url=base,
    )
    c.check(bool(express.authentication_token), "token from /oauth/v1/generate")

    pushes = []
    for phone, expected, amount in [(c.SUCCESS_PHONE, 0, 1), (c.CANCEL_PHONE, 1032, 2)]:
        answer = express.stk_push(
            business_shortcode=int(c.SHORTCODE),
            passcode=c.PASSKEY,
            amount=amount,
            callback_url=receiver.url,
            reference_code="ORDER-1",
            phone_number=phone,
            description="Order 1",
        )
        c.check(answer.get("ResponseCode") == "0", f"push to {phone} accepted: {answer}")
        checkout_id = answer["CheckoutRequestID"]

        early = express.query(
            business_shortcode=int(c.SHORTCODE), checkout_request_id=checkout_id, passcode=c.PASSKEY
        )
        early_ok = c.is_pending(early) or early.get("ResultCode") == str(expected)
        c.check(early_ok, f"query right after the push is pending or final: {early}")

        callback = receiver.wait_for(checkout_id)
        c.check_callback(callback, expected, amount=amount, phone=phone)

        final = express.query(
            business_shortcode=int(c.SHORTCODE), checkout_request_id=checkout_id, passcode=c.PASSKEY
        )
        c.check(
            final.get("ResponseCode") == "0" and final.get("ResultCode") == str(expected),
            f"query after the callback answers ResultCode {expected}: {final}",
        )
        c.check(final.get("CheckoutRequestID") == checkout_id, "query names the same CheckoutRequestID")
        pushes.append(
            {
                "phone": phone,
                "checkout_request_id": checkout_id,
                "callback_result_code": callback.get("ResultCode"),
                "query_result_code": final.get("ResultCode"),
                "early_query": "pending" if c.is_pending(early) else "final",
                "warnings": c.sim_warnings(base, checkout_id),
            }
        )
    receiver.close()
    c.report("daraja-mpesa", version("daraja-mpesa"), pushes)


if __name__ == "__main__":
    main()
