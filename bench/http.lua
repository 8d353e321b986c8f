-- client:get_ice_server_config from Lua against a plain C libcurl loop
-- (bench/http_loop.c) doing the same POST on one reused handle, both against
-- the same local keep-alive nginx that answers with the recorded
-- GetIceServerConfig body, in one run.
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"
local helpers = require "spec.support.helpers"

local loop_bin = assert(arg[1], "usage: http.lua <http_loop binary> [calls]")
local N = tonumber(arg[2]) or 20000
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

local function c_loop()
    local p = assert(io.popen(("%s %s/v1/get-ice-server-config %d"):format(loop_bin, url, N)))
    local out = p:read("a")
    p:close()
    return (assert(tonumber(out:match("calls_per_second ([%d.]+)")), "http_loop failed: " .. out))
end

local client = assert(kvs.new{ endpoint = url, region = "us-west-2", max_attempts = 1,
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" } })

local function lua_loop()
    for _ = 1, 200 do assert(client:get_ice_server_config(ARN)) end
    local t0 = core.monotonic()
    for _ = 1, N do
        local out, err = client:get_ice_server_config(ARN)
        if not out then error(tostring(err)) end
    end
    return N / (core.monotonic() - t0)
end

-- Best of three each, alternating.
local best_c, best_lua = 0, 0
local ok, err = pcall(function()
    for _ = 1, 3 do
        best_c = math.max(best_c, c_loop())
        best_lua = math.max(best_lua, lua_loop())
    end
end)
stop()
assert(ok, err)
print(string.format("http: client:get_ice_server_config %.0f calls/s; plain C libcurl loop %.0f calls/s; "
    .. "ratio %.2f (target >= 0.8)", best_lua, best_c, best_lua / best_c))
