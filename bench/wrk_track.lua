-- wrk script for bench/track_latency.py: POST one realistic Segment track event per
-- request (about 500 bytes, each with its own messageId), Basic auth with the write key.
--
--   SHOAL_BENCH_AUTH="Basic <base64(writeKey:)>" SHOAL_BENCH_RUN=<id> \
--     wrk -t1 -c32 -d10s --latency -s bench/wrk_track.lua http://127.0.0.1:PORT/v1/track
--
-- The same script is pointed at /bench/noop for the no-op baseline. At the end it prints
-- one "BENCH_JSON {...}" line (latencies in microseconds) for the Python driver to read.

local auth = os.getenv("SHOAL_BENCH_AUTH") or ""
local run = os.getenv("SHOAL_BENCH_RUN") or "run"
local threads = {}
local counter = 0
local events = { "Order Completed", "Product Viewed", "Product Added", "Checkout Started" }

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = auth
  prefix = run .. "-" .. tostring(thread_id or 0) .. "-"
end

function request()
  counter = counter + 1
  local body = '{"type":"track","event":"' .. events[counter % 4 + 1] .. '",'
    .. '"userId":"user_' .. string.format("%06d", counter % 100000) .. '",'
    .. '"anonymousId":"0ed90475-9531-485d-9d9d-c9f81818e811",'
    .. '"messageId":"' .. prefix .. counter .. '",'
    .. '"timestamp":"2025-03-14T09:26:53.589Z",'
    .. '"properties":{"product_id":"sku_51750","category":"Games","price":15.41,"position":18},'
    .. '"context":{"library":{"name":"analytics-python","version":"2.3.3"},'
    .. '"ip":"203.0.113.233","locale":"en-US",'
    .. '"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15"},'
    .. '"integrations":{}}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
      .. '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,'
      .. '"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
