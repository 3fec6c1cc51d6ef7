// mpesa-node (npm; Safaricom's own Node library) against the simulator.
//
// The library has no base-URL option: its constructor hard-codes https://sandbox.safaricom.co.ke into
// the public instance property `baseURL`, which every call reads. The one-line shim is to set that
// property after construction (`mpesa.baseURL = SIM_BASE_URL`); nothing else changes.
//
// Used the way its README shows: new Mpesa({ consumerKey, consumerSecret, lipaNaMpesaShortCode,
// lipaNaMpesaShortPass }), lipaNaMpesaOnline(msisdn, amount, callbackUrl, accountRef) and
// lipaNaMpesaQuery(checkoutRequestId); answers are axios responses (so X-Sim-Warning is visible).
//
// Quirks it has: the Timestamp is UTC (new Date().toISOString()), not East Africa Time; MSISDN and
// shortcode are JSON numbers; the default TransactionDesc "Lipa na mpesa online" is 20 characters (over
// the 13 Safaricom documents). We also pass a float amount (1.5) on the cancelled push.
// Prints `COMPAT-RESULT {json}` last; any failed check exits non-zero.
'use strict'

const Mpesa = require('mpesa-node')
const { version } = require('mpesa-node/package.json')
const { check, get, startReceiver, run, baseUrl } = require('./compat_support')

const SHORTCODE = 174379
const PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919'
const SUCCESS_PHONE = 254708374149
const CANCEL_PHONE = 254700001032

// The stkCallback for a push, from the receiver.
function callbackFor (receiver, id) {
  const pick = (b) => [(b.Body || {}).stkCallback || {}].find((cb) => cb.CheckoutRequestID === id)
  return receiver.find(pick, `callback for ${id}`)
}

function headerList (headers) {
  const v = headers['x-sim-warning']
  if (!v) return []
  // Node joins repeated headers with ", "; keep the raw value list when it is one.
  return Array.isArray(v) ? v : [v]
}

async function simWarnings (base, id) {
  const entries = JSON.parse(await get(`${base}/sim/api/log?kind=warning`))
  return entries.filter((e) => e.checkout_request_id === id).map((e) => e.message)
}

async function query (mpesa, id) {
  try {
    return (await mpesa.lipaNaMpesaQuery(id)).data
  } catch (err) {
    if (err.response) return err.response.data // Daraja answers "pending" with HTTP 500
    throw err
  }
}

const isPending = (a) => a && a.errorCode === '500.001.1001' && /being processed/.test(a.errorMessage || '')

async function main () {
  const base = baseUrl()
  const receiver = await startReceiver()
  const callbackUrl = `${receiver.base}/hooks/stk/order-1`

  const mpesa = new Mpesa({
    consumerKey: 'compat-key',
    consumerSecret: 'compat-secret',
    environment: 'sandbox',
    lipaNaMpesaShortCode: SHORTCODE,
    lipaNaMpesaShortPass: PASSKEY
  })
  check(mpesa.baseURL === 'https://sandbox.safaricom.co.ke', 'the library defaults to the real sandbox')
  mpesa.baseURL = base // the shim

  const token = await mpesa.oAuth()
  check(token.status === 200 && token.data.access_token, 'token from /oauth/v1/generate')

  const pushes = []
  for (const [phone, expected, amount] of [[SUCCESS_PHONE, 0, 1], [CANCEL_PHONE, 1032, 1.5]]) {
    const resp = await mpesa.lipaNaMpesaOnline(phone, amount, callbackUrl, 'ORDER-1')
    check(resp.status === 200 && resp.data.ResponseCode === '0', `push to ${phone} accepted: ${JSON.stringify(resp.data)}`)
    const id = resp.data.CheckoutRequestID
    const headerWarnings = headerList(resp.headers)

    const early = await query(mpesa, id)
    check(isPending(early) || early.ResultCode === String(expected), `query right after the push is pending or final: ${JSON.stringify(early)}`)

    const cb = await callbackFor(receiver, id)
    check(cb.ResultCode === expected, `callback ResultCode ${cb.ResultCode} == ${expected}`)
    if (expected === 0) {
      const meta = Object.fromEntries(((cb.CallbackMetadata || {}).Item || []).map((i) => [i.Name, i.Value]))
      check(Boolean(meta.MpesaReceiptNumber), 'success callback carries an MpesaReceiptNumber')
      check(meta.Amount === amount, `callback Amount ${meta.Amount} == ${amount}`)
      check(String(meta.PhoneNumber) === String(phone), `callback PhoneNumber == ${phone}`)
    } else {
      check(!cb.CallbackMetadata, 'failed callback has no CallbackMetadata')
    }

    const final = await query(mpesa, id)
    check(final.ResponseCode === '0' && final.ResultCode === String(expected), `query after the callback answers ResultCode ${expected}: ${JSON.stringify(final)}`)
    check(final.CheckoutRequestID === id, 'query names the same CheckoutRequestID')

    pushes.push({
      phone: String(phone),
      checkout_request_id: id,
      callback_result_code: cb.ResultCode,
      query_result_code: final.ResultCode,
      early_query: isPending(early) ? 'pending' : 'final',
      header_warnings: headerWarnings,
      warnings: await simWarnings(base, id)
    })
  }
  receiver.close()
  console.log('COMPAT-RESULT ' + JSON.stringify({ sdk: 'mpesa-node', version, pushes }))
}

run(main)
