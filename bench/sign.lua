-- kvs.sign from Lua against the raw crypto floor (bench/sign_floor.c),
-- measured side by side in one run.
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"

local floor_bin = assert(arg[1], "usage: sign.lua <sign_floor binary>")
local N = tonumber(arg[2]) or 200000

local params = {
    method = "POST",
    url = "https://r-1234abcd.kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config",
    headers = { ["Content-Type"] = "application/json" },
    body = '{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123",'
        .. '"ClientId":"viewer-1","Service":"TURN"}',
    region = "us-west-2", service = "kinesisvideo", time = 1440938160,
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
}

local function lua_us_per_sign()
    local sign = kvs.sign
    for _ = 1, 10000 do sign(params) end -- warm the key cache and buffers
    local t0 = core.monotonic()
    for _ = 1, N do sign(params) end
    return (core.monotonic() - t0) * 1e6 / N
end

local function floor_us()
    local p = assert(io.popen(floor_bin))
    local v = tonumber((p:read("l")))
    p:close()
    return (assert(v, "sign_floor printed no figure"))
end

-- Best of three each, alternating, so both see the same machine state.
local best_lua, best_floor = math.huge, math.huge
for _ = 1, 3 do
    best_floor = math.min(best_floor, floor_us())
    best_lua = math.min(best_lua, lua_us_per_sign())
end
print(string.format("sign: kvs.sign from %s %.3f us/signature; raw crypto floor %.3f us; ratio %.2fx (target <= 4x)",
    _VERSION, best_lua, best_floor, best_lua / best_floor))
