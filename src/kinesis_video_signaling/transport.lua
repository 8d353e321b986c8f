-- How requests travel. Every transport is a function
--   send(req) -> resp | nil, err
-- with req = { method, url, headers, body, timeout, connect_timeout } and
-- resp = { status, headers (lower-case names), body }; errors use the one
-- error shape (TimeoutError, NetworkError, InvalidResponseError).
local errors = require "kinesis_video_signaling.errors"

local _M = {}

_M.MAX_BODY = 1024 * 1024 -- the API's answers are small

-- libcurl in C: one easy handle per transport, so sequential calls share a
-- keep-alive connection and TLS session.
function _M.curl(opts)
    local core = require "kinesis_video_signaling.core"
    local handle, why = core.http()
    if not handle then return nil, errors.new("InternalError", why) end
    local defaults = {
        ca_file = opts.ca_file, verify_tls = opts.verify_tls ~= false, max_body = _M.MAX_BODY,
    }
    local send = function(req)
        local resp, kind, message = handle:request{
            method = req.method, url = req.url, headers = req.headers, body = req.body,
            timeout = req.timeout or opts.timeout, connect_timeout = req.connect_timeout or opts.connect_timeout,
            ca_file = defaults.ca_file, verify_tls = defaults.verify_tls, max_body = defaults.max_body,
        }
        if not resp then return nil, errors.new(kind, message) end
        return resp
    end
    return send, handle
end

-- The transport a client uses: its `transport` option as a function, else
-- libcurl. Returns send and, when the transport needs its own, a sleep.
function _M.select(opts)
    if type(opts.transport) == "function" then return opts.transport end
    return (_M.curl(opts))
end

return _M
