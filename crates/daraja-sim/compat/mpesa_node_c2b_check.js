// mpesa-node (npm; Safaricom's own Node library) registers C2B URLs and simulates a paybill payment
// against the simulator. Same one-line shim as the STK check (`mpesa.baseURL = SIM_BASE_URL`), nothing
// else changes. The library calls the v1 paths, so the validation and confirmation that follow carry the
// payer's number as a SHA-256 hash. Prints `COMPAT-RESULT {json}` last; any failed check exits non-zero.
'use strict'

const crypto = require('crypto')
const http = require('http')
const Mpesa = require('mpesa-node')
const { version } = require('mpesa-node/package.json')

const SHORTCODE = 174379
const PHONE = 254708374149
const ACCOUNT = 'NODE-5'
const AMOUNT = 60
const DEADLINE_MS = 20000

function fail (message) {
  console.log(`FAIL: ${message}`)
  process.exit(1)
}

function check (condition, message) {
  if (!condition) fail(message)
  console.log(`ok: ${message}`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function startMerchant () {
  const got = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (chunk) => { raw += chunk })
    req.on('end', () => {
      const kind = req.url.split('/').pop()
      got.push({ kind, body: JSON.parse(raw) })
      const answer = kind === 'validation' ? { ResultCode: 0, ResultDesc: 'Accepted' } : { ResultCode: 0, ResultDesc: 'Success' }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(answer))
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/hooks/c2b/n0de`
      const waitFor = async (kind) => {
        const start = Date.now()
        while (Date.now() - start < DEADLINE_MS) {
          const hit = got.find((g) => g.kind === kind && g.body.BillRefNumber === ACCOUNT)
          if (hit) return hit.body
          await sleep(20)
        }
        fail(`no ${kind} within ${DEADLINE_MS} ms`)
      }
      resolve({ url, waitFor, close: () => server.close() })
    })
  })
}

async function main () {
  const base = (process.env.SIM_BASE_URL || '').replace(/\/$/, '')
  if (!base) fail('SIM_BASE_URL is not set')
  const merchant = await startMerchant()
  const mpesa = new Mpesa({ consumerKey: 'compat-key', consumerSecret: 'compat-secret', environment: 'sandbox', shortCode: SHORTCODE })
  mpesa.baseURL = base // the shim

  const reg = await mpesa.c2bRegister(`${merchant.url}/confirmation`, `${merchant.url}/validation`)
  check(reg.status === 200 && reg.data.ResponseCode === '0', `register URLs accepted: ${JSON.stringify(reg.data)}`)

  const sim = await mpesa.c2bSimulate(PHONE, AMOUNT, ACCOUNT)
  check(sim.status === 200 && sim.data.ResponseCode === '0', `simulate accepted: ${JSON.stringify(sim.data)}`)

  const validation = await merchant.waitFor('validation')
  const confirmation = await merchant.waitFor('confirmation')
  const hashed = crypto.createHash('sha256').update(String(PHONE)).digest('hex')
  check(validation.MSISDN === hashed && confirmation.MSISDN === hashed, 'MSISDN is the SHA-256 of the payer (v1)')
  check(confirmation.TransAmount === `${AMOUNT}.00`, `confirmation TransAmount ${confirmation.TransAmount}`)
  check(validation.TransID === confirmation.TransID, 'one TransID for both')
  merchant.close()
  console.log('COMPAT-RESULT ' + JSON.stringify({ sdk: 'mpesa-node', version, c2b: { trans_id: confirmation.TransID, account: ACCOUNT, amount: AMOUNT } }))
}

main().catch((err) => {
  const answer = err && err.response ? ` ${err.response.status} ${JSON.stringify(err.response.data)}` : ''
  fail((err && err.stack ? err.stack : String(err)) + answer)
})
