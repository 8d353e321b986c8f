-- Prints the TURN servers of a signaling channel.
--
--   lua5.4 examples/get_ice_server_config.lua <channel-arn> [client-id]
--
-- Credentials and region come from the usual AWS environment variables
-- (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION)
-- or the shared config files; the signaling endpoint is discovered, or taken
-- from AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING.
local kvs = require "kinesis_video_signaling"

local arn, client_id = arg[1], arg[2]
if not arn then
    io.stderr:write("usage: get_ice_server_config.lua <channel-arn> [client-id]\n")
    os.exit(2)
end

local out, err = kvs.get_ice_server_config{ ChannelARN = arn, ClientId = client_id }
if not out then
    io.stderr:write("GetIceServerConfig failed: ", tostring(err), "\n")
    os.exit(1)
end

-- Enough of a secret to tell two apart, never the whole of it.
local function masked(secret)
    if type(secret) ~= "string" then return "(none)" end
    return secret:sub(1, 4) .. "... (" .. #secret .. " characters)"
end

for i, server in ipairs(out.IceServerList or {}) do
    print(("ICE server %d: valid for %s s, username %s, password %s"):format(
        i, tostring(server.Ttl), tostring(server.Username), masked(server.Password)))
    for _, uri in ipairs(server.Uris or {}) do print("  " .. uri) end
end
