-- How requests travel. Every transport is a function
--   send(req) -> resp | nil, err
-- with req = { method, url, headers, body, timeout, connect_timeout } and
-- resp = { status, headers (lower-case names), body }; errors use the one
-- error shape (TimeoutError, NetworkError, InvalidResponseError).
-- Transports: libcurl (here), nginx cosockets (transport_ngx.lua) or the
-- user's own function; see select() for which one a client gets.
local errors = require "kinesis_video_signaling.errors"
local lock = require "kinesis_video_signaling.lock"

local _M = {}

_M.MAX_BODY = 1024 * 1024 -- the API's answers are small

-- libcurl in C: one easy handle per transport, so sequential calls share a
-- keep-alive connection and TLS session.
function _M.curl(opts)
    local core = require "kinesis_video_signaling.core"
    local handle, why = core.http()
    if not handle then return nil, errors.new("InternalError", why) end
    -- Passed beside each request rather than copied into it; the request's
    -- own timeouts, when given, win.
    local defaults = {
        ca_file = opts.ca_file, verify_tls = opts.verify_tls ~= false, max_body = _M.MAX_BODY,
        timeout = opts.timeout, connect_timeout = opts.connect_timeout,
    }
    local send = function(req)
        local resp, kind, message = handle:request(req, defaults)
        if not resp then return nil, errors.new(kind, message) end
        return resp
    end
    return send, handle
end

-- Inside nginx: true when `ngx` is there with cosockets.
function _M.in_nginx()
    local ngx = rawget(_G, "ngx")
    return type(ngx) == "table" and type(ngx.socket) == "table" and type(ngx.get_phase) == "function"
end

local function ngx_options(opts)
    return {
        timeout = opts.timeout, connect_timeout = opts.connect_timeout, verify_tls = opts.verify_tls,
        ca_file = opts.ca_file, max_body = _M.MAX_BODY,
    }
end

-- ngx.sleep where nginx lets the request yield, else a blocking sleep.
local function sleep(seconds)
    if lock.can_yield() then return rawget(_G, "ngx").sleep(seconds) end
    return require("kinesis_video_signaling.core").sleep(seconds)
end

-- HTTP over nginx cosockets; in a phase without them (init, init_worker,
-- set, header_filter, body_filter, log) each call fails with a clear error.
function _M.ngx(opts)
    local transport_ngx = require "kinesis_video_signaling.transport_ngx"
    local send = transport_ngx.new(ngx_options(opts))
    return function(req)
        if not lock.can_yield() then
            return nil, errors.new("InternalError", "transport \"ngx\": nginx allows no cosockets in the "
                .. tostring(lock.phase()) .. " phase (use rewrite, access, content or ngx.timer, "
                .. "or transport = \"curl\")")
        end
        return send(req)
    end, sleep
end

-- No transport chosen, inside nginx: cosockets where the phase allows them,
-- else libcurl, created at first need. libcurl blocks the worker for the
-- whole exchange, which is only acceptable in init-time or log-phase work.
local function auto(opts)
    local ngx_send = require("kinesis_video_signaling.transport_ngx").new(ngx_options(opts))
    local curl_send, why
    return function(req)
        if lock.can_yield() then return ngx_send(req) end
        if not curl_send then
            curl_send, why = _M.curl(opts)
            if not curl_send then return nil, why end
        end
        return curl_send(req)
    end, sleep
end

-- Which transport a call made now would use: "custom", "ngx" or "curl".
function _M.current(opts)
    local t = opts and opts.transport
    if type(t) == "function" then return "custom" end
    if t == "ngx" then return "ngx" end
    if t == nil and _M.in_nginx() and lock.can_yield() then return "ngx" end
    return "curl"
end

-- The transport a client uses, from its `transport` option:
--   a function   used as is (a custom transport, e.g. over lua-resty-http);
--   "ngx"        nginx cosockets (ngx.socket.tcp) and ngx.sleep;
--   "curl"       libcurl, blocking, anywhere;
--   nil          inside nginx, cosockets in the phases that allow them and
--                libcurl in the others; elsewhere libcurl.
-- Returns send and the sleep retries use (ngx.sleep where nginx lets the
-- request yield, so a backoff never stalls the worker); or nil, err.
function _M.select(opts)
    local t = opts.transport
    if type(t) == "function" then return t, sleep end
    if t == "ngx" then
        if not _M.in_nginx() then
            return nil, errors.param("transport: \"ngx\" works only inside nginx with the lua module "
                .. "(ngx.socket.tcp is not available here)")
        end
        return _M.ngx(opts)
    end
    if t == nil and _M.in_nginx() then return auto(opts) end
    local send, why = _M.curl(opts)
    if not send then return nil, why end
    return send, sleep
end

return _M
