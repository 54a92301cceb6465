-- The request mix of bench/soak.py, for wrk: GETs of package details,
-- lists and searches, and PATCHes of packages.
--
-- Read from the environment (never written into this file):
--   BENCH_TOKEN        an API token (`packages-api token create`)
--   BENCH_PACKAGES     package ids run from 1 to this
--   BENCH_WRITE_SHARE  the share of requests that are PATCHes (0.1)
--   BENCH_SEED         seeds each thread's random numbers
--
-- Each request carries an X-Request-ID (a UUID, which the service sends
-- back) whose first field says what kind of request it was, so that every
-- answer's status is counted by kind. done() prints the counts, one
-- "status KIND CODE COUNT" line each.

local token = os.getenv("BENCH_TOKEN") or ""
local packages = tonumber(os.getenv("BENCH_PACKAGES") or "4000")
local write_share = tonumber(os.getenv("BENCH_WRITE_SHARE") or "0.1")
local seed = tonumber(os.getenv("BENCH_SEED") or "20261204")

local KINDS = { "detail", "list", "search", "patch" }
local LISTS = {
  "/api/v4/packages/",
  "/api/v4/packages/?category=apps",
  "/api/v4/packages/?ordering=-repo_watchers",
  "/api/v4/packages/?ordering=-last_released&limit=50",
  "/api/v4/grids/",
  "/api/v4/categories/",
}
local SEARCHES = {
  "debug%20toolbar", "crispy%20forms", "rest", "admin", "cors", "storage",
  "auth", "celery", "filter", "markdown%20editor", "allauth", "environ",
}

local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("number", next_thread)
  table.insert(threads, thread)
end

counts = {}
local sent = 0

function init(args)
  math.randomseed(seed + (number or 0))
end

local function request_id(kind)
  sent = sent + 1
  return string.format("%08x-0000-4000-8000-%012x", kind, sent)
end

function request()
  local headers = {}
  local method, path, body, kind = "GET", nil, nil, nil
  local pick = math.random()
  if pick < write_share then
    kind = 4
    local id = math.random(packages)
    method = "PATCH"
    path = "/api/v4/packages/" .. id .. "/"
    headers["Authorization"] = "Bearer " .. token
    headers["Content-Type"] = "application/json"
    body = string.format(
      '{"documentation_url": "https://docs.example.org/%d/%d/"}', id, sent
    )
  elseif pick < write_share + 0.45 then
    kind = 1
    path = "/api/v4/packages/" .. math.random(packages) .. "/"
  elseif pick < write_share + 0.75 then
    kind = 2
    path = LISTS[math.random(#LISTS)]
    if path == "/api/v4/packages/" and math.random() < 0.5 then
      path = path .. "?offset=" .. (20 * math.random(0, packages / 20 - 1))
    end
  else
    kind = 3
    path = "/api/v4/search/?q=" .. SEARCHES[math.random(#SEARCHES)]
  end
  headers["X-Request-ID"] = request_id(kind)
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  local rid = headers["x-request-id"] or headers["X-Request-ID"] or ""
  local kind = KINDS[tonumber(string.sub(rid, 1, 8), 16) or 0] or "unknown"
  local key = kind .. " " .. status
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("counts") or {}) do
      total[key] = (total[key] or 0) + count
    end
  end
  for key, count in pairs(total) do
    io.write(string.format("status %s %d\n", key, count))
  end
end
