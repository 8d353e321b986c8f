-- GET /ice-servers?channel=<signaling channel ARN>[&client_id=<id>]
--
-- Answers the ICE servers a browser passes to `new RTCPeerConnection(...)`:
--
--   200 {"iceServers":[{"urls":["stun:stun.kinesisvideo.<region>.amazonaws.com:443"]},
--                      {"urls":["turn:...","turns:..."],"username":"...","credential":"..."}],
--        "ttl":300}
--   4xx/5xx {"error":"<code>","message":"..."}
--
-- The AWS credentials stay in nginx (read from the environment, see
-- nginx.conf); the browser only ever sees the short-lived TURN credentials.
-- The answer is cached per channel in the lua_shared_dict `kvs_ice` (shared
-- by the workers) until shortly before the TURN credentials expire.
local common = require "common"

local _M = {}

function _M.handle()
    local client, channel, client_id = common.channel_request()
    if not client then return end
    local servers, err, ttl = client:ice_servers{ ChannelARN = channel, ClientId = client_id }
    if not servers then return common.fail("ice-servers", err) end
    return common.reply(200, { iceServers = servers, ttl = ttl })
end

return _M
