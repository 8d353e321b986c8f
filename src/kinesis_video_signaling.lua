-- kinesis_video_signaling: call the AWS Kinesis Video Signaling API from Lua.
-- The C core signs (SigV4, OpenSSL) and speaks HTTP (libcurl); this file is
-- the public API on top of it.
local core = require "kinesis_video_signaling.core"
local client = require "kinesis_video_signaling.client"
local errors = require "kinesis_video_signaling.errors"

local _M = { _VERSION = "0.1.0" }

local core_sign, core_presign = core.sign, core.presign
local param_error = errors.param

-- kvs.sign{ method, url, headers, body, region, service, credentials, time, debug }
-- returns { headers, authorization, signature [, canonical_request, string_to_sign] }.
function _M.sign(params)
    local signed, why = core_sign(params)
    if not signed then return nil, param_error(why) end
    return signed
end

-- kvs.presign{ method, url, headers, body, region, service, credentials, expires, time }
-- returns the URL with the X-Amz-* query parameters and signature (with
-- debug = true, a table { url, canonical_request, string_to_sign, signature }).
function _M.presign(params)
    local url, why = core_presign(params)
    if not url then return nil, param_error(why) end
    return url
end

-- kvs.new{ region, endpoint, control_endpoint, credentials, profile, role,
--          timeout, connect_timeout, max_attempts, retry_base_delay, ca_file,
--          verify_tls, transport, ... } returns a client or nil, err.
_M.new = client.new

-- Module-level calls share one client configured from the environment,
-- created at first use.
local default_client

function _M.default_client()
    if not default_client then
        local c, err = client.new{}
        if not c then return nil, err end
        default_client = c
    end
    return default_client
end

local function module_call(method)
    return function(...)
        local c, err = _M.default_client()
        if not c then return nil, err end
        return c[method](c, ...)
    end
end

_M.get_ice_server_config = module_call("get_ice_server_config")
_M.send_alexa_offer_to_master = module_call("send_alexa_offer_to_master")
_M.ice_servers = module_call("ice_servers")
_M.presign_connect = module_call("presign_connect")

_M.is_error = errors.is_error

return _M
