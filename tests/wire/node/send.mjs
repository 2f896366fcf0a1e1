// Drive the official @segment/analytics-node SDK from a JSON plan and report what happened.
//
// Usage: node send.mjs '<plan json>'   or   echo '<plan json>' | node send.mjs
//
// Plan:   {"host": "http://127.0.0.1:8080", "writeKey": "...",
//          "settings": {"flushAt": 20, ...},            // extra Analytics settings (optional)
//          "calls": [{"method": "track", "params": {...}}, ...]}
// Report: {"calls":     [{"method", "messageId", "error"}],   // in plan order
//          "errors":    [{"code", "reason"}],                 // every 'error' event emitted
//          "requests":  [{"url", "messageIds"}],              // every HTTP request the SDK made
//          "responses": [{"status"}],                         // every HTTP response it got
//          "library":   "<SDK version>"}
import { Analytics } from '@segment/analytics-node'

const METHODS = new Set(['identify', 'track', 'page', 'screen', 'group', 'alias'])

async function readPlan() {
  if (process.argv.length > 2) return JSON.parse(process.argv[2])
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

function describe(reason) {
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`
  if (reason === undefined || reason === null) return null
  if (typeof reason === 'object') return JSON.stringify(reason)
  return String(reason)
}

const plan = await readPlan()
const report = { calls: [], errors: [], requests: [], responses: [], library: null }
const analytics = new Analytics({
  writeKey: plan.writeKey,
  host: plan.host,
  flushInterval: 200,
  ...(plan.settings ?? {}),
})
report.library = analytics.VERSION

analytics.on('error', (err) => {
  report.errors.push({ code: err?.code ?? null, reason: describe(err?.reason ?? err) })
})
analytics.on('http_request', (req) => {
  let messageIds = []
  try {
    messageIds = JSON.parse(req.body).batch.map((event) => event.messageId)
  } catch {
    // leave empty: the body is reported as the SDK built it, parse failures are not ours
  }
  report.requests.push({ url: req.url, messageIds })
})
analytics.on('http_response', (res) => {
  report.responses.push({ status: res.status })
})

const done = []
for (const call of plan.calls) {
  if (!METHODS.has(call.method)) throw new Error(`unknown method ${call.method}`)
  const entry = { method: call.method, messageId: null, error: null }
  report.calls.push(entry)
  done.push(
    new Promise((resolve) => {
      analytics[call.method](call.params, (err, ctx) => {
        entry.messageId = ctx?.event?.messageId ?? null
        entry.error = describe(err)
        resolve()
      })
    })
  )
}

await analytics.closeAndFlush({ timeout: plan.timeout ?? 20000 })
// A callback that never fires (aborted flush) must not hang the script.
let timer
await Promise.race([
  Promise.all(done),
  new Promise((resolve) => {
    timer = setTimeout(resolve, 2000)
  }),
])
clearTimeout(timer)
process.stdout.write(JSON.stringify(report) + '\n')
