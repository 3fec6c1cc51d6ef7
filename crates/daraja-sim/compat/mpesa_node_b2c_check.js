// mpesa-node (npm; Safaricom's own Node library) sends a B2C payment to the simulator, unchanged.
//
// Same one-line shim as mpesa_node_check.js (`mpesa.baseURL = SIM_BASE_URL`). The library encrypts the
// initiator password itself from a certificate file (`certPath`): we give it the simulator's certificate,
// downloaded from /sim/certificate.pem, exactly as an application would give it Safaricom's. Then once
// more with the certificate the library ships (Safaricom's sandbox one): the simulator cannot decrypt
// that credential, so the payout must fail with 2001, which shows the credential really is checked.
// Prints `COMPAT-RESULT {json}` last; any failed check exits non-zero.
'use strict'

const fs = require('fs')
const os = require('os')
const path = require('path')
const Mpesa = require('mpesa-node')
const { version } = require('mpesa-node/package.json')
const { check, get, startReceiver, run, baseUrl } = require('./compat_support')

const SHORTCODE = 174379
const RECIPIENT = 254712345678

// The B2C result for an OriginatorConversationID, from the receiver.
function resultFor (receiver, id) {
  return receiver.find((b) => [b.Result || {}].find((r) => r.OriginatorConversationID === id), `result for ${id}`)
}

async function payout (base, receiver, certPath, amount) {
  const mpesa = new Mpesa({
    consumerKey: 'compat-key',
    consumerSecret: 'compat-secret',
    environment: 'sandbox',
    initiatorName: 'testapi',
    securityCredential: 'Safaricom999!*!',
    certPath
  })
  mpesa.baseURL = base // the shim
  const resp = await mpesa.b2c(SHORTCODE, RECIPIENT, amount, `${receiver.base}/hooks/b2c/timeout`, `${receiver.base}/hooks/b2c/result`)
  check(resp.status === 200 && resp.data.ResponseCode === '0', `B2C accepted: ${JSON.stringify(resp.data)}`)
  const id = resp.data.OriginatorConversationID
  const result = await resultFor(receiver, id)
  const params = Object.fromEntries((((result.ResultParameters || {}).ResultParameter) || []).map((p) => [p.Key, p.Value]))
  return { originator_conversation_id: id, result_code: result.ResultCode, receipt: params.TransactionReceipt || null, amount: params.TransactionAmount || null }
}

async function main () {
  const base = baseUrl()
  const receiver = await startReceiver()
  const pem = await get(`${base}/sim/certificate.pem`)
  check(pem.includes('BEGIN CERTIFICATE'), 'the simulator serves its certificate')
  const certPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sim-cert-')), 'sim.pem')
  fs.writeFileSync(certPath, pem)

  const paid = await payout(base, receiver, certPath, 1500)
  check(paid.result_code === 0, `payout with the simulator's certificate succeeds: ${JSON.stringify(paid)}`)
  check(Boolean(paid.receipt) && paid.amount === 1500, 'the result carries a receipt and the amount')

  const shipped = require.resolve('mpesa-node/keys/sandbox-cert.cer')
  const refused = await payout(base, receiver, shipped, 100)
  check(refused.result_code === 2001, `payout with Safaricom's certificate fails with 2001 here: ${JSON.stringify(refused)}`)

  receiver.close()
  console.log('COMPAT-RESULT ' + JSON.stringify({ sdk: 'mpesa-node', version, payouts: [paid, refused] }))
}

run(main)
