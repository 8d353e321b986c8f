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
--
-- Anyone who can reach this URL gets TURN credentials for the channels it
-- serves: list the allowed ARNs in KVS_ALLOWED_CHANNELS (comma-separated),
-- and put the location behind your own authentication.
local kvs = require "kinesis_video_signaling"
local cjson = require "cjson.safe"

local _M = {}

-- Error codes the browser can act on; everything else is the upstream's fault.
local HTTP_STATUS = {
    ParamValidationError = 400,
    InvalidArgumentException = 400,
    ResourceNotFoundException = 404,
    ClientLimitExceededException = 429,
    ThrottlingException = 429,
}

local client -- one per worker: it keeps credentials, endpoints and connections

local function get_client()
    if client then return client end
    local c, err = kvs.new{
        role = "VIEWER",
        timeout = 5,
        shared_dict = "kvs_ice", -- nginx.conf: lua_shared_dict kvs_ice 1m;
        -- No `transport`: inside a content handler the module uses nginx
        -- cosockets, so waiting for AWS never blocks the worker.
    }
    if not c then return nil, err end
    client = c
    return c
end

local function allowed(channel)
    local list = os.getenv("KVS_ALLOWED_CHANNELS")
    if not list or list == "" then return true end
    for arn in list:gmatch("[^,%s]+") do
        if arn == channel then return true end
    end
    return false
end

local function reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store" -- TURN credentials are per request
    ngx.say(cjson.encode(body))
end

function _M.handle()
    if ngx.req.get_method() ~= "GET" then
        ngx.header["Allow"] = "GET"
        return reply(405, { error = "MethodNotAllowed", message = "use GET" })
    end
    local args = ngx.req.get_uri_args(10)
    local channel = args.channel
    if type(channel) ~= "string" or channel == "" then
        return reply(400, { error = "ParamValidationError", message = "channel: required (a signaling channel ARN)" })
    end
    if not allowed(channel) then
        return reply(403, { error = "Forbidden", message = "channel: not served here" })
    end
    local c, err = get_client()
    if not c then
        ngx.log(ngx.ERR, "ice-servers: ", tostring(err))
        return reply(500, { error = "InternalError", message = "the server is not configured" })
    end
    local client_id = type(args.client_id) == "string" and args.client_id or nil
    local servers, ttl
    servers, err, ttl = c:ice_servers{ ChannelARN = channel, ClientId = client_id }
    if not servers then
        -- Errors never hold credentials; the log gets the full text.
        ngx.log(ngx.ERR, "ice-servers: ", tostring(err))
        return reply(HTTP_STATUS[err.code] or 502, { error = err.code, message = err.message })
    end
    return reply(200, { iceServers = servers, ttl = ttl })
end

return _M
