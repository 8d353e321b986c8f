-- client:get_ice_server_config from Lua against a plain C libcurl loop
-- (bench/http_loop.c) doing the same POST on one reused handle, both against
-- the same local keep-alive nginx that answers with the recorded
-- GetIceServerConfig body, in one run.
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"
local helpers = require "spec.support.helpers"

local loop_bin = assert(arg[1], "usage: http.lua <http_loop binary> [calls]")
local N = tonumber(arg[2]) or 45000
local ARN = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123"

local function json_body()
    local path = helpers.FIXTURES .. "/responses/get_ice_server_config_ok.json"
    local fixture = require("cjson").decode(helpers.read_file(path))
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
    local p = assert(io.popen(("%s %s/v1/get-ice-server-config %d"):format(loop_bin, url, n)))
    local out = p:read("a")
    p:close()
    return (assert(tonumber(out:match("calls_per_second ([%d.]+)")), "http_loop failed: " .. out))
end

local client = assert(kvs.new{ endpoint = url, region = "us-west-2", max_attempts = 1,
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" } })

local function lua_loop(n)
    local t0 = core.monotonic()
    for _ = 1, n do
        local out, err = client:get_ice_server_config(ARN)
        if not out then error(tostring(err)) end
    end
    return n / (core.monotonic() - t0)
end

local function median(t)
    table.sort(t)
    return t[math.floor((#t + 1) / 2)]
end

-- Short rounds, alternating, so both loops see the same machine state; the
-- median of the rounds' figures resists a noisy neighbour.
local ROUNDS = 9
local c_rates, lua_rates, ratios = {}, {}, {}
local ok, err = pcall(function()
    lua_loop(500) -- warm: connection, key cache, buffers
    for i = 1, ROUNDS do
        c_rates[i] = c_loop(N // ROUNDS)
        lua_rates[i] = lua_loop(N // ROUNDS)
        ratios[i] = lua_rates[i] / c_rates[i]
    end
end)
stop()
assert(ok, err)
print(string.format("http: client:get_ice_server_config %.0f calls/s; plain C libcurl loop %.0f calls/s; "
    .. "ratio %.2f (median of %d alternating rounds; target >= 0.8)",
    median(lua_rates), median(c_rates), median(ratios), ROUNDS))
