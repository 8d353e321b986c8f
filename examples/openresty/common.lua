-- What the two handlers share: one client per worker, the channel allow-list
-- and JSON replies.
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

function _M.client()
    if client then return client end
    local c, err = kvs.new{
        timeout = 5,
        shared_dict = "kvs_ice", -- nginx.conf: lua_shared_dict kvs_ice 1m;
        -- No `transport`: inside a content handler the module uses nginx
        -- cosockets, so waiting for AWS never blocks the worker.
    }
    if not c then return nil, err end
    client = c
    return c
end

-- Anyone who can reach these URLs gets credentials for the channels served:
-- list the allowed ARNs in KVS_ALLOWED_CHANNELS (comma-separated), and put
-- the locations behind your own authentication.
function _M.allowed(channel)
    local list = os.getenv("KVS_ALLOWED_CHANNELS")
    if not list or list == "" then return true end
    for arn in list:gmatch("[^,%s]+") do
        if arn == channel then return true end
    end
    return false
end

function _M.reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store" -- short-lived credentials inside
    ngx.say(cjson.encode(body))
end

-- Replies with the module's error, logging its full text (never a secret).
function _M.fail(what, err)
    ngx.log(ngx.ERR, what, ": ", tostring(err))
    return _M.reply(HTTP_STATUS[err.code] or 502, { error = err.code, message = err.message })
end

-- The GET query's channel and client id, after the method, presence and
-- allow-list checks; nil when a reply was already sent.
function _M.channel_request()
    if ngx.req.get_method() ~= "GET" then
        ngx.header["Allow"] = "GET"
        return _M.reply(405, { error = "MethodNotAllowed", message = "use GET" })
    end
    local args = ngx.req.get_uri_args(10)
    local channel = args.channel
    if type(channel) ~= "string" or channel == "" then
        return _M.reply(400, { error = "ParamValidationError",
                               message = "channel: required (a signaling channel ARN)" })
    end
    if not _M.allowed(channel) then
        return _M.reply(403, { error = "Forbidden", message = "channel: not served here" })
    end
    local c, err = _M.client()
    if not c then
        ngx.log(ngx.ERR, "kinesis video client: ", tostring(err))
        return _M.reply(500, { error = "InternalError", message = "the server is not configured" })
    end
    return c, channel, type(args.client_id) == "string" and args.client_id or nil
end

return _M
