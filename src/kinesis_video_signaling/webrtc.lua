-- What a WebRTC peer needs from the service, in the shapes browsers take:
-- cached ICE servers as RTCIceServer entries, and a presigned wss:// URL to
-- connect to the signaling channel without ever holding AWS credentials.
local endpoints = require "kinesis_video_signaling.endpoints"
local errors = require "kinesis_video_signaling.errors"
local model = require "kinesis_video_signaling.model"
local validate = require "kinesis_video_signaling.validate"
local core = require "kinesis_video_signaling.core"

local type, ipairs, floor, huge = type, ipairs, math.floor, math.huge
local format = string.format

local _M = {}

local ICE_OP = model.operations.get_ice_server_config

-- STUN first, as the AWS WebRTC SDKs order them; TURN entries after.
local function rtc_ice_servers(answer, region)
    local servers = { { urls = { format("stun:stun.kinesisvideo.%s.%s:443", region, endpoints.dns_suffix(region)) } } }
    local ttl = huge
    for _, s in ipairs(answer.IceServerList or {}) do
        local urls = {}
        for i, uri in ipairs(s.Uris or {}) do urls[i] = uri end
        servers[#servers + 1] = { urls = urls, username = s.Username, credential = s.Password }
        if type(s.Ttl) == "number" and s.Ttl < ttl then ttl = s.Ttl end
    end
    if ttl == huge then ttl = 0 end
    return servers, ttl
end

-- client:ice_servers(params) -> servers, nil, valid_for_seconds | nil, err.
-- Cached per (channel, client id, service, username) and fetched again when
-- less than refresh_margin of the smallest Ttl remains; when that fetch fails
-- while the cached set is still valid, the cached set is returned.
function _M.ice_servers(self, ...)
    local input, err = self:input(ICE_OP, ...)
    if not input then return nil, err end

    local key = format("ice\n%s\n%s\n%s\n%s", input.ChannelARN, input.ClientId or "", input.Service or "",
        input.Username or "")
    local now = self:now()
    local cached = self.ice_cache:get(key)
    if cached and now < cached.expires_at - self.refresh_margin then
        return cached.servers, nil, floor(cached.expires_at - now)
    end

    local answer
    answer, err = self:call(ICE_OP, input)
    if not answer then
        if cached and now < cached.expires_at then return cached.servers, nil, floor(cached.expires_at - now) end
        return nil, err
    end
    local region = self:region_for(input.ChannelARN)
    local servers, ttl = rtc_ice_servers(answer, region)
    self.ice_cache:set(key, { servers = servers, expires_at = now + ttl }, ttl)
    return servers, nil, ttl
end

local ROLES = { VIEWER = true, MASTER = true }

local function check_connect_params(p)
    if type(p) ~= "table" then return errors.param("params: must be a table") end
    for name in pairs(p) do
        if name ~= "ChannelARN" and name ~= "role" and name ~= "ClientId" and name ~= "expires" then
            return errors.param(format("%s: unknown member for presign_connect (members: ChannelARN, ClientId, "
                .. "expires, role)", tostring(name)))
        end
    end
    local why = validate.member("ChannelARN", p.ChannelARN, model.channel_arn)
    if why then return errors.param(why) end
    if p.role ~= nil and not ROLES[p.role] then return errors.param("role: must be \"VIEWER\" or \"MASTER\"") end
    local role = p.role or "VIEWER"
    if role == "VIEWER" and p.ClientId == nil then return errors.param("ClientId: required for a VIEWER") end
    if p.ClientId ~= nil then
        why = validate.member("ClientId", p.ClientId, ICE_OP.members.ClientId)
        if why then return errors.param(why) end
    end
    if p.expires ~= nil and (type(p.expires) ~= "number" or p.expires < 1 or p.expires > 604800) then
        return errors.param("expires: must be a number of seconds from 1 to 604800")
    end
end

local function query_escape(s)
    return (s:gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

-- client:presign_connect{ ChannelARN, role = "VIEWER"|"MASTER", ClientId, expires = 300 }
-- -> the presigned wss:// URL of the channel's WSS endpoint, or nil, err.
function _M.presign_connect(self, p)
    local err = check_connect_params(p)
    if err then return nil, err end
    local role = p.role or "VIEWER"
    local region, creds = self:context(p.ChannelARN)
    if not region then return nil, creds end
    local wss
    wss, err = self:discover(p.ChannelARN, region, creds, "WSS", role)
    if not wss then return nil, err end
    local url = wss .. "/?X-Amz-ChannelARN=" .. query_escape(p.ChannelARN)
    if role == "VIEWER" then url = url .. "&X-Amz-ClientId=" .. query_escape(p.ClientId) end
    local signed, why = core.presign{
        method = "GET", url = url, region = region, service = "kinesisvideo", credentials = creds,
        expires = p.expires or 300, time = floor(self:now()),
    }
    if not signed then return nil, errors.param("endpoint: " .. why) end
    return signed
end

return _M
