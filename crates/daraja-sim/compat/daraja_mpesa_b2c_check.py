"""daraja-mpesa (PyPI, `from mpesa.api.b2c import B2C`) sends money-out requests to the simulator.

Pointed at the simulator with its documented `sandbox_url` argument; nothing else changes. The SDK
takes a ready-made SecurityCredential ("generate from developer portal"): we make it the way the
portal and Safaricom's docs do, with the openssl CLI and the simulator's certificate from
/sim/certificate.pem (RSA PKCS#1 v1.5, base64).

Checked: a B2C payment is paid (result 0 with a receipt); an Account Balance query reports the
accounts; and the SDK's reversal, which spells the key `ReceiverIdentifierType` correctly, is refused
the way Daraja refuses it (`400.002.02 Bad Request - Invalid RecieverIdentifierType`): a bug of the SDK
the simulator shows.
"""

import base64
import json
import os
import subprocess
import tempfile
import urllib.request
from importlib.metadata import version

from mpesa.api.b2c import B2C
from mpesa.api.balance import Balance
from mpesa.api.reversal import Reversal

import compat_support as c

RECIPIENT = "254712345678"


def credential(base):
    with urllib.request.urlopen(f"{base}/sim/certificate.pem", timeout=10) as resp:
        pem = resp.read()
    c.check(b"BEGIN CERTIFICATE" in pem, "the simulator serves its certificate")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sim.pem")
        with open(path, "wb") as f:
            f.write(pem)
        cipher = subprocess.run(
            ["openssl", "pkeyutl", "-encrypt", "-certin", "-inkey", path, "-pkeyopt", "rsa_padding_mode:pkcs1"],
            input=b"Safaricom999!*!",
            capture_output=True,
            check=True,
        ).stdout
    return base64.b64encode(cipher).decode()


def wait_result(receiver, originator_id):
    def pick(_kind, body):
        result = body.get("Result", {})
        return result if result.get("OriginatorConversationID") == originator_id else None

    return receiver.find(pick, f"result for {originator_id}")


def params(result):
    items = result.get("ResultParameters", {}).get("ResultParameter", [])
    if isinstance(items, dict):
        items = [items]
    return {i.get("Key"): i.get("Value") for i in items}


def main():
    base = c.base_url()
    receiver = c.CallbackReceiver()
    cred = credential(base)
    kw = dict(env="sandbox", app_key=c.CONSUMER_KEY, app_secret=c.CONSUMER_SECRET, sandbox_url=base)

    b2c = B2C(**kw)
    answer = b2c.transact(
        initiator_name="testapi",
        security_credential=cred,
        command_id="BusinessPayment",
        amount=1500,
        party_a=c.SHORTCODE,
        party_b=RECIPIENT,
        remarks="Rider payout",
        queue_timeout_url=receiver.url,
        result_url=receiver.url,
        occassion="compat",
    )
    c.check(answer.get("ResponseCode") == "0", f"B2C accepted: {answer}")
    paid = wait_result(receiver, answer["OriginatorConversationID"])
    p = params(paid)
    c.check(paid.get("ResultCode") == 0 and bool(p.get("TransactionReceipt")), f"B2C paid: {paid}")

    balance = Balance(**kw)
    answer = balance.get_balance(
        initiator="testapi",
        security_credential=cred,
        command_id="AccountBalance",
        party_a=c.SHORTCODE,
        identifier_type="4",
        remarks="balance",
        queue_timeout_url=receiver.url,
        result_url=receiver.url,
    )
    c.check(answer.get("ResponseCode") == "0", f"Account Balance accepted: {answer}")
    bal = wait_result(receiver, answer["OriginatorConversationID"])
    accounts = params(bal).get("AccountBalance", "")
    c.check(bal.get("ResultCode") == 0 and "Utility Account|KES|" in accounts, f"balances reported: {accounts}")

    reversal = Reversal(**kw)
    refused = reversal.reverse(
        initiator="testapi",
        security_credential=cred,
        transaction_id=p["TransactionReceipt"],
        amount=1500,
        receiver_party=c.SHORTCODE,
        receiver_identifier_type="11",
        queue_timeout_url=receiver.url,
        result_url=receiver.url,
        remarks="refund",
        occassion="compat",
    )
    c.check(
        refused.get("errorMessage") == "Bad Request - Invalid RecieverIdentifierType",
        f"the SDK's correctly spelled ReceiverIdentifierType is refused as Daraja refuses it: {refused}",
    )
    receiver.close()
    result = {
        "sdk": "daraja-mpesa",
        "version": version("daraja-mpesa"),
        "payouts": [{"originator_conversation_id": paid["OriginatorConversationID"], "receipt": p["TransactionReceipt"]}],
        "balance": accounts,
        "reversal_error": refused.get("errorMessage"),
    }
    print("COMPAT-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
