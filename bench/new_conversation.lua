-- wrk script: every request is a new Telegram update of the "new
-- conversation" kind - a private text from a user never seen before - with an
-- update_id unique across all wrk threads and a user id above 2^31.
--   wrk -t2 -c100 -d30s -s bench/new_conversation.lua http://127.0.0.1:8080/webhook
-- BENCH_BASE (environment) shifts the ids so that runs do not collide.

local threads = {}
local base = tonumber(os.getenv("BENCH_BASE") or "0")

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- 2^31 + a block of 10^9 ids per thread
  counter = 0
  first = base + tid * 1000000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  secret = os.getenv("BENCH_SECRET")
  if secret and secret ~= "" then
    wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = secret
  end
end

function request()
  counter = counter + 1
  local id = first + counter
  local user = 3000000000 + id
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":1,"from":{"id":%d,"is_bot":false,' ..
    '"first_name":"Bench","username":"bench_%d","language_code":"en"},"chat":{"id":%d,' ..
    '"first_name":"Bench","type":"private"},"date":1767225600,' ..
    '"text":"Hi, my order A-%d still has not arrived"}}', id, user, id, user, id)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d connect_err=%d read_err=%d " ..
    "write_err=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, non2xx, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
