-- `make demo`: starts the bundled recorded endpoint on 127.0.0.1, points the
-- examples at it with dummy credentials, runs them, and stops it.
local replay = require "spec.support.replay"
local core = require "kinesis_video_signaling.core"

local lua = arg[1] or "lua5.4"
local ARN = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123"
local OFFER = "dj0wDQpvPS0gMCAwIElOIElQNCAxMjcuMC4wLjENCnM9LQ0KdD0wIDANCg=="

local srv = replay.start{ lifetime = 120 }
srv:script{
    ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok" } },
    ["/v1/send-alexa-offer-to-master"] = { { fixture = "send_alexa_offer_to_master_ok" } },
}
for name, value in pairs{
    AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING = srv.url, AWS_REGION = "us-west-2",
    AWS_ACCESS_KEY_ID = "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    AWS_EC2_METADATA_DISABLED = "true",
} do
    core.setenv(name, value)
end
core.setenv("AWS_SESSION_TOKEN", nil)
core.setenv("AWS_PROFILE", nil)

local function run(cmd)
    print("$ " .. cmd)
    io.stdout:flush()
    local ok = os.execute(cmd)
    return ok == true or ok == 0
end

print("Recorded endpoint listening on " .. srv.url .. "\n")
local ok = run(lua .. " examples/get_ice_server_config.lua " .. ARN .. " viewer-1")
print()
ok = run(lua .. " examples/send_alexa_offer_to_master.lua " .. ARN .. " " .. OFFER .. " demo-sender") and ok
local served = #srv:requests()
srv:stop()
print(("\nThe endpoint answered %d signed requests."):format(served))
os.exit(ok and served == 2 and 0 or 1)
