-- Non-blocking proof: one nginx worker, N concurrent requests, each calling
-- GetIceServerConfig through the module against the replay server, which
-- delays every answer. With cosockets the worker waits for all of them at
-- once; a blocking call would serialize them (N x delay).
--
--   lua5.4 bench/nginx_concurrency.lua [N=200] [delay=0.2]
--
-- Needs the LuaJIT build (make LUA_VERSION=jit all), Debian's nginx with
-- libnginx-mod-http-lua and lua-resty-core, and luasocket for lua5.4.
local helpers = require "spec.support.helpers"
local nginx = require "spec.support.nginx"
local replay = require "spec.support.replay"

local N = tonumber(arg[1]) or 200
local DELAY = tonumber(arg[2]) or 0.2
local ARN = helpers.ARN

assert(nginx.available())

local srv = replay.start{ lifetime = 120 }
local ng
local ok, err = pcall(function()
    srv:script{ ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok", delay = DELAY } } }
    ng = nginx.start{
        env = { KVS_SPEC_REPLAY_URL = srv.url, AWS_ACCESS_KEY_ID = helpers.ACCESS_KEY_ID,
                AWS_SECRET_ACCESS_KEY = helpers.SECRET_KEY },
        server = 'location /call { content_by_lua_block { require("spec.support.ngx_handlers").call() } }',
    }
    -- One warm-up request: module loading and the first connection are not the point.
    local status = ng:get("/call?client=bench&channel=" .. ARN)
    assert(status == 200, "warm-up request failed")
    srv:reset()
    srv:script{ ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok", delay = DELAY } } }

    local paths = {}
    for i = 1, N do paths[i] = "/call?client=bench&timeout=30&channel=" .. ARN end
    local results, seconds = nginx.get_many(ng.port, paths, 60)
    local good = 0
    for _, r in ipairs(results) do
        if r.status == 200 and r.body and not r.body:find('"err"', 1, true) then good = good + 1 end
    end
    assert(good == N, ("only %d of %d calls succeeded"):format(good, N))
    assert(#srv:requests() == N, "the replay server did not see every call")
    print(("nginx: %d concurrent calls with %d ms upstream delay took %.2f s (blocking would take %g s)")
        :format(N, DELAY * 1000, seconds, N * DELAY))
end)
if ng then ng:stop() end
srv:stop()
if not ok then
    io.stderr:write("bench/nginx_concurrency.lua: ", tostring(err), "\n")
    os.exit(1)
end
