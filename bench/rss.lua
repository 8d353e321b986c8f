-- Memory under load: sequential client:get_ice_server_config calls against
-- the local replay server, with the process's resident set size (VmRSS)
-- read before and after. Fails when it grew by 1 MiB or more.
--
--   LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/rss.lua [calls]
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"
local replay = require "spec.support.replay"

local N = math.tointeger and math.tointeger(tonumber(arg[1])) or tonumber(arg[1]) or 100000
local WARMUP = 1000
local LIMIT_KIB = 1024

local helpers = require "spec.support.helpers"
local ARN = helpers.ARN
local CREDS = helpers.creds(helpers.SESSION_TOKEN)

local function rss_kib()
    local f = assert(io.open("/proc/self/status", "r"), "bench/rss.lua needs /proc/self/status")
    local status = f:read("a")
    f:close()
    return (assert(tonumber(status:match("VmRSS:%s*(%d+)%s*kB")), "no VmRSS in /proc/self/status"))
end

local function full_gc()
    collectgarbage("collect")
    collectgarbage("collect") -- a second pass runs the finalizers' leftovers
end

local function run(srv)
    srv:script({}, { fixture = "get_ice_server_config_ok" })
    local client = assert(kvs.new{ endpoint = srv.url, region = "us-west-2", credentials = CREDS,
                                   max_attempts = 1, timeout = 5, connect_timeout = 2 })
    local call = client.get_ice_server_config
    local params = { ChannelARN = ARN, ClientId = "viewer-1" }
    for i = 1, WARMUP do
        local out, err = call(client, params)
        if not out then error(("warm-up call %d failed: %s"):format(i, tostring(err))) end
    end
    full_gc()
    local before = rss_kib()
    local t0 = core.monotonic()
    for i = 1, N do
        local out, err = call(client, params)
        if not out then error(("call %d failed: %s"):format(i, tostring(err))) end
    end
    local elapsed = core.monotonic() - t0
    full_gc()
    local after = rss_kib()
    return before, after, elapsed
end

local srv = replay.start{ lifetime = 3600 }
local ok, before, after, elapsed = pcall(run, srv)
srv:stop()
if not ok then
    io.stderr:write("bench/rss.lua: ", tostring(before), "\n")
    os.exit(1)
end

local growth = after - before
print(("rss: before %d KiB, after %d KiB, growth %d KiB over %d calls"):format(before, after, growth, N))
print(("rss: %.1f us per call, Lua heap %d KiB"):format(elapsed * 1e6 / N, math.floor(collectgarbage("count"))))
if growth >= LIMIT_KIB then
    io.stderr:write(("rss: growth %d KiB is not under %d KiB\n"):format(growth, LIMIT_KIB))
    os.exit(1)
end
