-- GET /signaling-url?channel=<signaling channel ARN>&client_id=<id>[&role=MASTER]
--
-- Answers a presigned wss:// URL the browser opens to join the signaling
-- channel as a viewer (or master), valid for 5 minutes:
--
--   200 {"url":"wss://v-1a2b3c4d.kinesisvideo.<region>.amazonaws.com/?X-Amz-ChannelARN=...&X-Amz-Signature=..."}
--   4xx/5xx {"error":"<code>","message":"..."}
--
-- The URL carries a signature, never the AWS credentials behind it.
local common = require "common"

local _M = {}

function _M.handle()
    local client, channel, client_id = common.channel_request()
    if not client then return end
    local role = ngx.var.arg_role == "MASTER" and "MASTER" or "VIEWER"
    local url, err = client:presign_connect{ ChannelARN = channel, role = role, ClientId = client_id, expires = 300 }
    if not url then return common.fail("signaling-url", err) end
    return common.reply(200, { url = url })
end

return _M
