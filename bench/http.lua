-- client:get_ice_server_config from Lua against a plain C libcurl loop
-- (bench/http_loop.c) doing the same POST on one reused handle, both against
-- the same local keep-alive nginx that answers with the recorded
-- GetIceServerConfig body, in one run.
--
-- Two steps in between show where the time goes: the binding's HTTP call
-- with a request signed once (what calling libcurl from Lua costs), and the
-- same plus lua-cjson decoding the answer (the least any Lua caller that returns
-- the answer as tables pays).
--
--   http.lua <http_loop binary> [calls] [label]
-- The label names the CPU placement the Makefile ran it under (taskset).
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"
local helpers = require "spec.support.helpers"
local cjson = require "cjson"

local loop_bin = assert(arg[1], "usage: http.lua <http_loop binary> [calls] [label]")
local N = tonumber(arg[2]) or 45000
local LABEL = arg[3] or "any CPU"
local ARN = helpers.ARN

local function json_body()
    local path = helpers.FIXTURES .. "/responses/get_ice_server_config_ok.json"
    local fixture = cjson.decode(helpers.read_file(path))
    return fixture.body
end

local function free_port()
    local socket = require "socket"
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return port
end

-- nginx in its own prefix, answering every request from memory.
local function start_nginx()
    local prefix = os.tmpname()
    os.remove(prefix)
    assert(os.execute("mkdir -p " .. prefix .. "/logs"))
    local port = free_port()
    local body = json_body():gsub("\\", "\\\\"):gsub("'", "\\'")
    helpers.write_file(prefix .. "/nginx.conf", ([[
worker_processes 1;
pid %s/nginx.pid;
error_log %s/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_buffer_size 16k;
    server {
        listen 127.0.0.1:%d;
        location / { default_type application/json; return 200 '%s'; }
    }
}
]]):format(prefix, prefix, port, body))
    assert(os.execute(("nginx -p %s -c %s/nginx.conf"):format(prefix, prefix)), "nginx did not start")
    for _ = 1, 100 do -- up to 1 s for the pid file
        if helpers.exists(prefix .. "/nginx.pid") then break end
        core.sleep(0.01)
    end
    return "http://127.0.0.1:" .. port, function()
        os.execute(("kill $(cat %s/nginx.pid) 2>/dev/null; sleep 0.2; rm -rf %s"):format(prefix, prefix))
    end
end

local url, stop = start_nginx()

local function c_loop(n)
    local p = assert(io.popen(("%s %s%s %d"):format(loop_bin, url, helpers.ICE_PATH, n)))
    local out = p:read("a")
    p:close()
    return (assert(tonumber(out:match("calls_per_second ([%d.]+)")), "http_loop failed: " .. out))
end

local CREDS = helpers.creds()
local client = assert(kvs.new{ endpoint = url, region = "us-west-2", max_attempts = 1, credentials = CREDS })

local function timed(call)
    return function(n)
        local t0 = core.monotonic()
        for _ = 1, n do call() end
        return n / (core.monotonic() - t0)
    end
end

local handle = assert(core.http())
local presigned = { method = "POST", url = url .. helpers.ICE_PATH,
    body = cjson.encode{ ChannelARN = ARN } }
presigned.headers = assert(kvs.sign{ method = "POST", url = presigned.url, body = presigned.body,
    headers = { ["Content-Type"] = "application/json" }, region = "us-west-2", service = "kinesisvideo",
    credentials = CREDS }).headers

local function request()
    local resp = handle:request(presigned)
    if not (resp and resp.status == 200) then error("request failed") end
    return resp
end

local steps = {
    { name = "plain C libcurl loop", rate = c_loop },
    { name = "binding's request, signed once", rate = timed(request) },
    { name = "... and lua-cjson decode", rate = timed(function() cjson.decode(request().body) end) },
    { name = "client:get_ice_server_config", rate = timed(function()
        local out, err = client:get_ice_server_config(ARN)
        if not out then error(tostring(err)) end
    end) },
}

local function median(t)
    table.sort(t)
    return t[math.floor((#t + 1) / 2)]
end

-- Short rounds, alternating, so every step sees the same machine state; the
-- median of the rounds' figures resists a noisy neighbour.
local ROUNDS = 9
local ok, err = pcall(function()
    for i = 2, #steps do steps[i].rate(500) end -- warm: connection, key cache, buffers
    for _, step in ipairs(steps) do step.rates, step.ratios = {}, {} end
    for r = 1, ROUNDS do
        for _, step in ipairs(steps) do step.rates[r] = step.rate(N // ROUNDS) end
        for _, step in ipairs(steps) do step.ratios[r] = step.rates[r] / steps[1].rates[r] end
    end
end)
stop()
assert(ok, err)
print(("http, %s (median of %d alternating rounds of %d calls):"):format(LABEL, ROUNDS, N // ROUNDS))
for i, step in ipairs(steps) do
    print(("  %-34s %7.0f calls/s  %.2f x the C loop%s"):format(step.name, median(step.rates),
        median(step.ratios), i == #steps and " (target >= 0.8)" or ""))
end
