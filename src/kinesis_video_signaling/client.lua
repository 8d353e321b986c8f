-- A client: its options, credentials, transport and caches, and the call
-- pipeline every operation goes through (validate, resolve region and
-- endpoint, sign, send, classify, retry).
local core = require "kinesis_video_signaling.core"
local credentials = require "kinesis_video_signaling.credentials"
local endpoints = require "kinesis_video_signaling.endpoints"
local errors = require "kinesis_video_signaling.errors"
local httpdate = require "kinesis_video_signaling.httpdate"
local lock = require "kinesis_video_signaling.lock"
local model = require "kinesis_video_signaling.model"
local options = require "kinesis_video_signaling.options"
local response = require "kinesis_video_signaling.response"
local transport = require "kinesis_video_signaling.transport"
local validate = require "kinesis_video_signaling.validate"
local webrtc = require "kinesis_video_signaling.webrtc"
local cache = require "kinesis_video_signaling.cache"

local type, select, pairs, floor, min, random = type, select, pairs, math.floor, math.min, math.random
local format = string.format
local sign = core.sign

local _M = {}

-- Read, never written, by core.sign.
local JSON_HEADERS = { ["Content-Type"] = "application/json" }

local Client = {}
local mt = { __index = Client }

mt.__tostring = function(self)
    local c = self.last_credentials
    return format("kinesis_video_signaling client (region %s, endpoint %s, access key %s)",
        self.region or "from ARN or environment", self.endpoint or "discovered",
        c and c.access_key_id or "not yet resolved")
end

function _M.new(opts)
    local o, err = options.check(opts)
    if not o then return nil, err end
    local self = setmetatable(o, mt)
    self.clock = o.clock or core.now
    self.sleep = core.sleep
    local send, sleep = transport.select(o)
    if not send then return nil, sleep end
    self.send, self.sleep = send, o.sleep or sleep or self.sleep
    -- Inside nginx, one credentials refresh and one discovery per channel at
    -- a time in each worker; the others wait for it, at most as long as the
    -- work itself may take with its retries.
    local wait = o.max_attempts * (o.connect_timeout + o.timeout + min(20, o.retry_base_delay * 2 ^ o.max_attempts))
    self.credentials = credentials.new{
        credentials = o.credentials, profile = o.profile, send = self.send, clock = self.clock,
        refresh_margin = o.credentials_refresh_margin, lock = lock.new{ timeout = wait },
    }
    self.discovery_lock = lock.keyed{ timeout = wait }
    self.endpoint_cache = {}
    self.ice_cache = cache.new(o.shared_dict)
    self.skew = 0
    self.profile_region = function() return self.credentials:region() end
    -- Reused by every signature (core.sign keeps no reference and never
    -- yields, so concurrent calls cannot see each other's fields).
    self.sign_params = { method = "POST", headers = JSON_HEADERS, service = "kinesisvideo" }
    return self
end

-- Codes AWS uses when the request's time is too far from its own.
local SKEW_CODES = {
    RequestTimeTooSkewed = true, RequestExpired = true, RequestInTheFuture = true,
    InvalidSignatureException = "signature", SignatureDoesNotMatch = "signature",
}

local function is_skew_error(err)
    local kind = SKEW_CODES[err.code]
    if err.status ~= 403 or not kind then return false end
    if kind == true then return true end
    local msg = (err.message or ""):lower()
    return msg:find("expired", 1, true) ~= nil or msg:find("not yet current", 1, true) ~= nil
end

function Client:now()
    return self.clock() + self.skew
end

local function secrets_of(creds)
    return { creds.secret_access_key, creds.session_token }
end

-- One signed JSON POST with retries; returns the decoded answer or nil, err.
function Client:post(url, body, region, creds, op)
    local params = self.sign_params
    local attempt, skew_corrected = 0, false
    while true do
        attempt = attempt + 1
        params.url, params.body, params.region, params.credentials = url, body, region, creds
        params.time = floor(self:now())
        local signed, why = sign(params)
        params.body, params.credentials = nil, nil -- hold no secret or body between calls
        if not signed then return nil, errors.param("endpoint or region: " .. why) end
        local resp, err = self.send{
            method = "POST", url = url, headers = signed.headers, body = body,
            timeout = self.timeout, connect_timeout = self.connect_timeout,
        }
        local out
        if resp then
            out, err = response.classify(op, resp, creds)
            if out then return out end
            local server_time = httpdate.parse(resp.headers and resp.headers.date)
            if not skew_corrected and server_time and is_skew_error(err) then
                -- Re-sign with the server's clock once; later calls keep the offset.
                self.skew = server_time - self.clock()
                skew_corrected = true
                attempt = attempt - 1
                err = nil
            end
        else
            err.message = errors.scrub(err.message, secrets_of(creds))
        end
        if err then
            if not err.retryable or attempt >= self.max_attempts then
                err.attempts = attempt
                return nil, err
            end
            self.sleep(min(random() * self.retry_base_delay * 2 ^ (attempt - 1), 20))
        end
    end
end

-- The endpoint for `protocol` ("HTTPS" or "WSS") of a channel as `role`,
-- from GetSignalingChannelEndpoint, cached per (channel, role, protocol).
function Client:discover(arn, region, creds, protocol, role)
    local key = arn .. "\n" .. role .. "\n" .. protocol
    local cached = self.endpoint_cache[key]
    if cached then return cached, key end
    -- Concurrent callers (nginx requests of one worker) wait for the first
    -- one's answer instead of each asking again.
    return self.discovery_lock:run(key, self.discover_now, self, key, arn, region, creds, protocol, role)
end

function Client:discover_now(key, arn, region, creds, protocol, role)
    local cached = self.endpoint_cache[key]
    if cached then return cached, key end -- found while this caller waited
    local body = response.encode{
        ChannelARN = arn,
        SingleMasterChannelEndpointConfiguration = { Protocols = { protocol }, Role = role },
    }
    local control = endpoints.control(self.control_endpoint, region)
    local answer, err = self:post(control .. "/getSignalingChannelEndpoint", body, region, creds, nil)
    if not answer then return nil, err end
    local url = endpoints.pick(answer, protocol)
    if not url then
        return nil, errors.new("InvalidResponseError",
            "GetSignalingChannelEndpoint gave no " .. protocol .. " endpoint")
    end
    self.endpoint_cache[key] = url
    return url, key
end

-- Region and credentials every call needs.
-- The region a call about `arn` is signed for (see endpoints.region).
function Client:region_for(arn)
    return endpoints.region(self.region, arn, self.profile_region)
end

function Client:context(arn)
    local region = self:region_for(arn)
    if not region then
        return nil, errors.param("region: not configured (set kvs.new{ region = ... } or AWS_REGION)")
    end
    local creds, err = self.credentials:get()
    if not creds then return nil, err end
    self.last_credentials = creds
    return region, creds
end

function Client:call(op, input)
    local region, creds = self:context(input.ChannelARN)
    if not region then return nil, creds end
    local base, cache_key = endpoints.configured_signaling(self.endpoint), nil
    if not base then
        local err
        base, err = self:discover(input.ChannelARN, region, creds, "HTTPS", self.role)
        if not base then return nil, err end
        cache_key = err
    end
    local out, err = self:post(base .. op.path, response.encode(input), region, creds, op)
    if not out and cache_key and (err.code == "NetworkError" or err.code == "ResourceNotFoundException") then
        self.endpoint_cache[cache_key] = nil -- the endpoint may have moved
    end
    return out, err
end

-- Both call forms: (positional..., [params]) or (params).
function Client.gather(_, op, ...)
    local n = select("#", ...)
    local npos = #op.positional
    if n == 1 and type((...)) == "table" then return ... end
    if n > npos + 1 then
        return nil, errors.param(format("arguments: %s takes at most %d (%s, params)", op.name, npos + 1,
            table.concat(op.positional, ", ")))
    end
    local extra = select(npos + 1, ...)
    if extra ~= nil and type(extra) ~= "table" then
        return nil, errors.param(format("params: must be a table (got %s)", type(extra)))
    end
    local params = {}
    if extra then
        for k, v in pairs(extra) do params[k] = v end
    end
    for i = 1, npos do
        local v = select(i, ...)
        if v ~= nil then params[op.positional[i]] = v end
    end
    return params
end

-- The members to send, from either call form, checked against the model.
function Client:input(op, ...)
    local params, err = self:gather(op, ...)
    if not params then return nil, err end
    return validate.input(op, params)
end

for method, op in pairs(model.operations) do
    Client[method] = function(self, ...)
        local input, err = self:input(op, ...)
        if not input then return nil, err end
        return self:call(op, input)
    end
end

Client.ice_servers = webrtc.ice_servers
Client.presign_connect = webrtc.presign_connect

return _M
