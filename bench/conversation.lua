-- wrk script, workload "conversation": a fixed set of users who already have
-- an open request keep writing (each message is appended and notified to
-- staff), mixed with staff answers (/reply N text from an admin).
-- bench/run.sh --workload conversation prefills the users and requests
-- 1..BENCH_USERS; BENCH_STAFF is the admin's user id.
local threads = {}
local base = tonumber(os.getenv("BENCH_BASE") or "0")
local users = tonumber(os.getenv("BENCH_USERS") or "2000")
local staff = tonumber(os.getenv("BENCH_STAFF") or "5550000001")

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  first = base + tid * 1000000000
  math.randomseed(tid + 1)
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
  local n = math.random(1, users)
  local body
  if counter % 5 == 0 then
    body = string.format(
      '{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,' ..
      '"first_name":"Bob","username":"bob_support"},"chat":{"id":%d,"type":"private"},' ..
      '"date":1767225600,"text":"/reply %d We are on it, sorry for the wait.",' ..
      '"entities":[{"offset":0,"length":6,"type":"bot_command"}]}}', id, id, staff, staff, n)
  else
    local user = 6000000000 + n
    body = string.format(
      '{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,' ..
      '"first_name":"User","username":"user_%d"},"chat":{"id":%d,"type":"private"},' ..
      '"date":1767225600,"text":"any news about my order? (%d)"}}', id, id, user, n, user, id)
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d connect_err=%d read_err=%d " ..
    "write_err=%d timeouts=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
