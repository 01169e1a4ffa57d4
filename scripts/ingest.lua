-- ingest.lua - wrk script of scripts/bench_ingest.sh: POST /api/v1/interaction with a unique
-- user, a spread of catalogue items and a unique idempotency key per request, so every
-- acknowledged request is one new row and the store's count can be checked against the acks.
-- Each thread counts the requests it sent and the 2xx it received and keeps the acknowledged
-- interactionIds; done() writes them to ACKED_FILE (one per line) for the per-id check.
-- Environment: RUN_TAG (keeps keys unique across runs on one store), N_ITEMS (catalogue size),
-- ACKED_FILE (where the ids go; unset = not written), BATCH (records per request: above 1,
-- POST /api/v1/interactions/batch with that many records; the counts are then of records).

local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tag = os.getenv("RUN_TAG") or "r"
  n_items = tonumber(os.getenv("N_ITEMS") or "1000")
  batch = tonumber(os.getenv("BATCH") or "1")
  sent, acked, failed = 0, 0, 0
  ids = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function record()
  counter = counter + 1
  local key = string.format("%s-%d-%d", tag, tid, counter)
  local item = (counter * 7919 + tid * 104729) % n_items + 1
  return string.format(
    '{"userId":"bench_%s_%d_%d","itemId":"item_%d","interactionType":"click","idempotencyKey":"%s"}',
    tag, tid, counter % 5000, item, key)
end

function request()
  if batch <= 1 then
    sent = sent + 1
    return wrk.format(nil, "/api/v1/interaction", nil, record())
  end
  local recs = {}
  for k = 1, batch do recs[k] = record() end
  sent = sent + batch
  return wrk.format(nil, "/api/v1/interactions/batch", nil, '{"interactions":[' .. table.concat(recs, ",") .. ']}')
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    if batch <= 1 then
      acked = acked + 1
      ids[acked] = tonumber(string.match(body, '"interactionId":"(%d+)"')) or -1
    else
      for id in string.gmatch(string.match(body, '"interactionIds":%[([^%]]*)%]') or "", '"(%d+)"') do
        acked = acked + 1
        ids[acked] = tonumber(id)
      end
    end
  else
    failed = failed + (batch <= 1 and 1 or batch)
  end
end

function done(summary, latency, requests)
  local s, a, f = 0, 0, 0
  local path = os.getenv("ACKED_FILE")
  local out = path and path ~= "" and io.open(path, "w") or nil
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    a = a + t:get("acked")
    f = f + t:get("failed")
    if out then
      for _, id in ipairs(t:get("ids")) do out:write(string.format("%d\n", id)) end
    end
  end
  if out then out:close() end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT acks_per_s=%.0f acked=%d non2xx=%d sent=%d errors=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f secs=%.2f\n",
    a / secs, a, f, s, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3, secs))
end
