// Shared helpers for the Node SDK compatibility scripts (Node's standard library only).
//
// The scripts drive a third-party Daraja SDK against a running simulator whose base URL is in
// SIM_BASE_URL, receive the real callbacks on a local HTTP receiver, and print one final line
// `COMPAT-RESULT {json}` that tests/compat.rs reads. Any failed check exits non-zero.
'use strict'

const http = require('http')

const DEADLINE_MS = 20000
// What a receiver answers a callback with, unless told otherwise.
const ACCEPTED = '{"ResultCode":0,"ResultDesc":"Accepted"}'

function fail (message) {
  console.log(`FAIL: ${message}`)
  process.exit(1)
}

function check (condition, message) {
  if (!condition) fail(message)
  console.log(`ok: ${message}`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function baseUrl () {
  const base = (process.env.SIM_BASE_URL || '').replace(/\/$/, '')
  if (!base) fail('SIM_BASE_URL is not set')
  return base
}

// The body of a GET, as text.
function get (url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let raw = ''
      res.on('data', (c) => { raw += c })
      res.on('end', () => resolve(raw))
    }).on('error', reject)
  })
}

// A receiver on 127.0.0.1:0 collecting the JSON bodies POSTed to it, each with its kind (the last part
// of the path it was POSTed to), and answering `answer(kind)`. `find(pick, what)` waits up to
// DEADLINE_MS for the first `pick(body, kind)` that is not undefined.
function startReceiver (answer = () => ACCEPTED) {
  const got = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (chunk) => { raw += chunk })
    req.on('end', () => {
      const kind = req.url.split('/').pop()
      try { got.push({ kind, body: JSON.parse(raw) }) } catch (e) { got.push({ kind, body: { unparsable: raw } }) }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(answer(kind))
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const base = `http://127.0.0.1:${server.address().port}`
      const find = async (pick, what) => {
        const start = Date.now()
        while (Date.now() - start < DEADLINE_MS) {
          for (const g of got) {
            const hit = pick(g.body, g.kind)
            if (hit !== undefined) return hit
          }
          await sleep(20)
        }
        fail(`no ${what} within ${DEADLINE_MS} ms`)
      }
      resolve({ base, find, close: () => server.close() })
    })
  })
}

// Runs `main`, turning any error into a FAIL line; axios errors carry Daraja's answer: show it rather
// than only the status line.
function run (main) {
  main().catch((err) => {
    const answer = err && err.response ? ` ${err.response.status} ${JSON.stringify(err.response.data)}` : ''
    fail((err && err.stack ? err.stack : String(err)) + answer)
  })
}

module.exports = { DEADLINE_MS, ACCEPTED, fail, check, sleep, baseUrl, get, startReceiver, run }
