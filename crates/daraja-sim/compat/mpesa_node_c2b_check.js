// mpesa-node (npm; Safaricom's own Node library) registers C2B URLs and simulates a paybill payment
// against the simulator. Same one-line shim as the STK check (`mpesa.baseURL = SIM_BASE_URL`), nothing
// else changes. The library calls the v1 paths, so the validation and confirmation that follow carry the
// payer's number as a SHA-256 hash. Prints `COMPAT-RESULT {json}` last; any failed check exits non-zero.
'use strict'

const crypto = require('crypto')
const Mpesa = require('mpesa-node')
const { version } = require('mpesa-node/package.json')
const { check, startReceiver, run, baseUrl } = require('./compat_support')

const SHORTCODE = 174379
const PHONE = 254708374149
const ACCOUNT = 'NODE-5'
const AMOUNT = 60

// The merchant: accepts validation, acknowledges confirmation.
function merchantAnswer (kind) {
  const answer = kind === 'validation' ? { ResultCode: 0, ResultDesc: 'Accepted' } : { ResultCode: 0, ResultDesc: 'Success' }
  return JSON.stringify(answer)
}

// The validation or confirmation (`kind`) of our payment, from the merchant.
function bodyOf (merchant, kind) {
  return merchant.find((b, k) => (k === kind && b.BillRefNumber === ACCOUNT ? b : undefined), kind)
}

async function main () {
  const base = baseUrl()
  const merchant = await startReceiver(merchantAnswer)
  const merchantUrl = `${merchant.base}/hooks/c2b/n0de`
  const mpesa = new Mpesa({ consumerKey: 'compat-key', consumerSecret: 'compat-secret', environment: 'sandbox', shortCode: SHORTCODE })
  mpesa.baseURL = base // the shim

  const reg = await mpesa.c2bRegister(`${merchantUrl}/confirmation`, `${merchantUrl}/validation`)
  check(reg.status === 200 && reg.data.ResponseCode === '0', `register URLs accepted: ${JSON.stringify(reg.data)}`)

  const sim = await mpesa.c2bSimulate(PHONE, AMOUNT, ACCOUNT)
  check(sim.status === 200 && sim.data.ResponseCode === '0', `simulate accepted: ${JSON.stringify(sim.data)}`)

  const validation = await bodyOf(merchant, 'validation')
  const confirmation = await bodyOf(merchant, 'confirmation')
  const hashed = crypto.createHash('sha256').update(String(PHONE)).digest('hex')
  check(validation.MSISDN === hashed && confirmation.MSISDN === hashed, 'MSISDN is the SHA-256 of the payer (v1)')
  check(confirmation.TransAmount === `${AMOUNT}.00`, `confirmation TransAmount ${confirmation.TransAmount}`)
  check(validation.TransID === confirmation.TransID, 'one TransID for both')
  merchant.close()
  console.log('COMPAT-RESULT ' + JSON.stringify({ sdk: 'mpesa-node', version, c2b: { trans_id: confirmation.TransID, account: ACCOUNT, amount: AMOUNT } }))
}

run(main)
