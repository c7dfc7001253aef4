-- wrk script for bench/bench_api.py: `wrk ... -s bench/wrk_load.lua URL -- MODE FIRST COUNT
-- KEY RUN OCCURRED_AT`. MODE is baseline (GET /baseline/<random account>/), events (POST a
-- purchase for a random participant of FIRST..FIRST+COUNT-1, a unique external id each) or
-- spends (POST a spend of 10, a unique idempotency key each). Each thread counts the HTTP
-- statuses it saw; done() prints one JSON line the benchmark reads.

local threads = {}
counter = 0
statuses = {}  -- globals: done() reads them through thread:get

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  mode = args[1]
  first = tonumber(args[2])
  count = tonumber(args[3])
  key = args[4]
  run = args[5]
  occurred_at = args[6]
  math.randomseed(thread_number * 7919 + 17)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Api-Key " .. key
end

function request()
  counter = counter + 1
  local participant = first + math.random(0, count - 1)
  if mode == "baseline" then
    return wrk.format("GET", "/baseline/" .. participant .. "/")
  end
  local id = run .. "-" .. thread_number .. "-" .. counter
  local body
  if mode == "events" then
    local total = 500 + math.random(0, 30000)
    local lines
    if math.random(1, 10) == 1 then
      local coffee = math.min(total, 900)
      lines = string.format(
        '[{"product":"COFFEE-1KG","quantity":1,"amount_minor":%d},'
          .. '{"product":"SKU-7","quantity":1,"amount_minor":%d}]',
        coffee, total - coffee)
    else
      lines = string.format('[{"product":"SKU-7","quantity":2,"amount_minor":%d}]', total)
    end
    body = string.format(
      '{"source":"bench","external_id":"%s","type":"purchase","participant":%d,'
        .. '"occurred_at":"%s","lines":%s,"total_minor":%d}',
      id, participant, occurred_at, lines, total)
    return wrk.format("POST", "/api/v1/events/", nil, body)
  end
  body = string.format(
    '{"participant":%d,"amount_minor":10,"idempotency_key":"%s"}', participant, id)
  return wrk.format("POST", "/api/v1/spends/", nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses")
    for status, number in pairs(seen) do
      counts[status] = (counts[status] or 0) + number
    end
  end
  local parts = {}
  for status, number in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, number))
  end
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
      .. '"timeouts":%d,"non_2xx_3xx":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    table.concat(parts, ",")))
end
