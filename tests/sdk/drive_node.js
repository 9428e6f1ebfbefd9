// Drive k2sim with the official Node SDK `k2-connect-node@1.3.0` (the v1 API).
// Run: node tests/sdk/drive_node.js, with NODE_PATH=.sdk/node/node_modules (or K2_NODE_SDK_DIR=.sdk/node).
// Input: one JSON object on stdin, as for the Python drivers:
//   {mode: "flows" | "verify", base_url, client_id, client_secret, api_key, callback_url, till_number,
//    phone_number, flows: [names] (optional), webhook_event_reference (for "sms"), items: [{raw_b64, signature}]}
// Output: one JSON line on stdout: {sdk, version, flows: {name: record}} or {sdk, verified: [...]}.
'use strict'

const path = require('path')

const SDK_DIR = process.env.K2_NODE_SDK_DIR
const sdkPath = (name) => (SDK_DIR ? path.join(path.resolve(SDK_DIR), 'node_modules', name) : name)
const K2 = require(sdkPath('k2-connect-node'))
const SDK_VERSION = require(sdkPath('k2-connect-node/package.json')).version

const ALL_FLOWS = ['token', 'webhooks', 'stk', 'pay', 'transfer', 'polling', 'sms']
const PENDING = new Set(['Pending', 'Scheduled', 'Received', 'Processing', 'Queued', 'Initiated'])

function readStdin () {
  return new Promise((resolve, reject) => {
    let data = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (chunk) => { data += chunk })
    process.stdin.on('end', () => resolve(JSON.parse(data)))
    process.stdin.on('error', reject)
  })
}

// The SDK rejects with strings, Error objects or parsed error bodies; keep whichever it was, readably.
function errorText (err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  if (typeof err === 'string') return err
  return JSON.stringify(err)
}

function statusOf (doc) {
  return doc && doc.data && doc.data.attributes ? doc.data.attributes.status : undefined
}

// GET until the status is final or the timeout passes; returns the last document and the trail of statuses.
async function pollFinal (fetch, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs
  const trail = []
  for (;;) {
    const doc = await fetch()
    const status = statusOf(doc)
    if (trail.length === 0 || trail[trail.length - 1] !== status) trail.push(status === undefined ? null : status)
    if ((status !== undefined && !PENDING.has(status)) || Date.now() >= deadline) return { doc, trail }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function flow (flows, name, body) {
  const rec = { ok: false, error: null }
  flows[name] = rec
  try {
    await body(rec)
    rec.ok = true
  } catch (err) {
    rec.error = errorText(err)
    if (err instanceof Error) rec.trace = String(err.stack).split('\n').slice(0, 5).join('\n')
  }
}

async function runFlows (req) {
  const k2 = K2({ clientId: req.client_id, clientSecret: req.client_secret, apiKey: req.api_key, baseUrl: req.base_url })
  const cb = req.callback_url
  const wanted = req.flows && req.flows.length ? req.flows : ALL_FLOWS
  const flows = {}
  let accessToken = ''

  await flow(flows, 'token', async (r) => {
    const resp = await k2.TokenService.getToken()
    accessToken = resp.access_token
    r.response = resp
    r.has_token = Boolean(accessToken)
    r.info = await k2.TokenService.infoToken({ accessToken })
    // introspectToken resolves `response.body`, which axios never sets: always undefined (SDK bug)
    r.introspect = (await k2.TokenService.introspectToken({ accessToken })) ?? null
  })

  if (wanted.includes('webhooks')) {
    await flow(flows, 'webhooks', async (r) => {
      r.location = await k2.Webhooks.subscribe({
        eventType: 'buygoods_transaction_received', url: cb, scope: 'till', scopeReference: req.till_number, accessToken
      })
      r.doc = await k2.Webhooks.getStatus({ location: r.location, accessToken })
      r.company_location = await k2.Webhooks.subscribe({
        eventType: 'settlement_transfer_completed', url: cb, scope: 'company', accessToken
      })
    })
  }

  if (wanted.includes('stk')) {
    await flow(flows, 'stk', async (r) => {
      r.location = await k2.StkService.initiateIncomingPayment({
        paymentChannel: 'M-PESA STK Push', tillNumber: req.till_number, firstName: 'Joe', lastName: 'Buyer',
        phoneNumber: req.phone_number, email: 'jbuyer@example.com', currency: 'KES', amount: 100,
        metadata: { customer_id: '123', reference: 'sdk-node-stk' }, callbackUrl: cb, accessToken
      })
      Object.assign(r, await pollFinal(() => k2.StkService.getStatus({ location: r.location, accessToken })))
    })
  }

  if (wanted.includes('pay')) {
    await flow(flows, 'pay', async (r) => {
      r.recipient_location = await k2.PayService.addPayRecipient({
        type: 'mobile_wallet', firstName: 'Jane', lastName: 'Doe', email: 'jane@example.com',
        phoneNumber: '+254999999999', network: 'Safaricom', accessToken
      })
      r.recipient_doc = await k2.PayService.getStatus({ location: r.recipient_location, accessToken })
      r.location = await k2.PayService.sendPay({
        destinationType: 'mobile_wallet', destinationReference: r.recipient_doc.data.attributes.recipient_reference,
        amount: 10, currency: 'KES', description: 'SDK node compatibility', callbackUrl: cb,
        metadata: { notes: 'sdk-node-pay' }, accessToken
      })
      Object.assign(r, await pollFinal(() => k2.PayService.getStatus({ location: r.location, accessToken })))
    })
  }

  if (wanted.includes('transfer')) {
    await flow(flows, 'transfer', async (r) => {
      r.account_location = await k2.TransferService.createMerchantBankAccount({
        accountName: 'Shop Ltd', bankBranchRef: '633aa26c-7b7c-4091-ae28-96c0687cf886', accountNumber: '1234567890',
        settlementMethod: 'EFT', accessToken
      })
      r.account_doc = await k2.TransferService.getStatus({ location: r.account_location, accessToken })
      r.wallet_location = await k2.TransferService.createMerchantWallet({
        firstName: 'Jane', lastName: 'Doe', phoneNumber: '+254999999999', network: 'Safaricom', accessToken
      })
      r.location = await k2.TransferService.settleFunds({
        destinationType: 'merchant_bank_account', destinationReference: r.account_doc.data.attributes.account_reference,
        amount: '10', currency: 'KES', callbackUrl: cb, accessToken
      })
      Object.assign(r, await pollFinal(() => k2.TransferService.getStatus({ location: r.location, accessToken })))
      // blind transfer: the SDK still sends amount {currency: undefined, value: undefined} (dropped by JSON)
      r.blind_location = await k2.TransferService.settleFunds({ callbackUrl: cb, accessToken })
      const blind = await pollFinal(() => k2.TransferService.getStatus({ location: r.blind_location, accessToken }))
      r.blind_doc = blind.doc
      r.blind_trail = blind.trail
    })
  }

  if (wanted.includes('polling')) {
    await flow(flows, 'polling', async (r) => {
      const now = new Date()
      r.location = await k2.PollingService.pollTransactions({
        scope: 'company', fromTime: new Date(now.getTime() - 86400000).toISOString(), toTime: now.toISOString(),
        callbackUrl: cb, accessToken
      })
      Object.assign(r, await pollFinal(() => k2.PollingService.getStatus({ location: r.location, accessToken })))
    })
  }

  if (wanted.includes('sms')) {
    await flow(flows, 'sms', async (r) => {
      r.location = await k2.SmsNotificationService.sendTransactionSmsNotification({
        webhookEventReference: req.webhook_event_reference, message: 'Thank you for your payment',
        callbackUrl: cb, accessToken
      })
      Object.assign(r, await pollFinal(() => k2.SmsNotificationService.getStatus({ location: r.location, accessToken })))
    })
  }

  return { sdk: 'k2-connect-node', version: SDK_VERSION, flows }
}

// webhookHandler(req, res) with an Express-like fake: body is the parsed JSON, get() is a case-insensitive lookup.
async function runVerify (req) {
  const k2 = K2({ clientId: req.client_id, clientSecret: req.client_secret, apiKey: req.api_key, baseUrl: req.base_url })
  const verified = []
  for (const item of req.items) {
    const raw = Buffer.from(item.raw_b64, 'base64').toString('utf8')
    const headers = item.signature == null ? {} : { 'x-kopokopo-signature': item.signature }
    const fakeReq = { body: JSON.parse(raw), headers, get: (name) => headers[String(name).toLowerCase()] }
    const fakeRes = {
      statusCode: null,
      status (code) { this.statusCode = code; return this },
      json () { return this }
    }
    const rec = { accepted: false, error: null, body: null, res_status: null }
    try {
      rec.body = await k2.Webhooks.webhookHandler(fakeReq, fakeRes)
      rec.accepted = true
    } catch (err) {
      rec.error = errorText(err)
    }
    rec.res_status = fakeRes.statusCode
    verified.push(rec)
  }
  return { sdk: 'k2-connect-node', version: SDK_VERSION, verified }
}

async function main () {
  const req = await readStdin()
  const result = req.mode === 'verify' ? await runVerify(req) : await runFlows(req)
  process.stdout.write('\n' + JSON.stringify(result) + '\n')
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
