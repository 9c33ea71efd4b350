-- wrk script for bench/http.sh: every request is POST /api/generate_tweet for a
-- random user of the names file (one screen name a line), as the hydrated page
-- sends it (JSON back, form body, no Origin header, no session cookie).
--
--   wrk -t1 -c16 -d30s --timeout 10s -s bench/http/generate.lua http://127.0.0.1:PORT -- NAMES_FILE [SEED]
--
-- At the end it prints one line `WRKJSON {...}`: requests, duration, socket
-- errors, responses whose status is not 2xx (counted here, not wrk's >=400),
-- and latency percentiles in microseconds.

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("thread_number", counter)
    table.insert(threads, thread)
end

local names = {}
local headers = {
    ["Accept"] = "application/json",
    ["Content-Type"] = "application/x-www-form-urlencoded",
}
non2xx = 0
statuses = ""

function init(args)
    local file = args[1] or error("usage: -- NAMES_FILE [SEED]")
    for line in io.lines(file) do
        if #line > 0 then
            names[#names + 1] = line
        end
    end
    if #names == 0 then
        error("no screen names in " .. file)
    end
    local seed = tonumber(args[2] or "1")
    math.randomseed(seed * 7919 + thread_number)
end

function request()
    local name = names[math.random(#names)]
    return wrk.format("POST", "/api/generate_tweet", headers, "screen_name=" .. name)
end

local seen = {}
function response(status, _headers, _body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if not seen[status] then
            seen[status] = true
            statuses = statuses .. status .. " "
        end
    end
end

function done(summary, latency, _requests)
    local bad, codes = 0, ""
    for _, thread in ipairs(threads) do
        bad = bad + (thread:get("non2xx") or 0)
        codes = codes .. (thread:get("statuses") or "")
    end
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "non2xx_statuses": "%s", ' ..
        '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
        '"latency_us": {"mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}}\n',
        summary.requests, summary.duration, summary.bytes, bad, codes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max))
end
