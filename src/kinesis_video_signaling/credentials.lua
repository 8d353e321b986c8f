-- Where AWS credentials come from, in the order AWS SDKs use: explicit (a
-- table, or the user's function), the environment, web identity, the shared
-- files, the container agent, EC2 instance metadata. The first source that
-- yields credentials wins; one that is configured but fails stops the
-- search, so a broken setup never silently turns into another identity.
--
-- Temporary credentials are cached and refreshed `refresh_margin` seconds
-- before they expire; a failed refresh while the old ones are still valid
-- keeps them. Static ones from the shared files are kept for the provider's
-- life; the environment is read at every call. Refreshes go through
-- opts.lock (lock:run(fn)) when given, so concurrent callers (nginx light
-- threads) start only one.
local common = require "kinesis_video_signaling.credentials.common"
local endpoints = require "kinesis_video_signaling.endpoints"
local env = require "kinesis_video_signaling.credentials.env"
local errors = require "kinesis_video_signaling.errors"
local shared = require "kinesis_video_signaling.credentials.shared"
local web_identity = require "kinesis_video_signaling.credentials.web_identity"
local container = require "kinesis_video_signaling.credentials.container"
local imds = require "kinesis_video_signaling.credentials.imds"

local type, tostring, pcall, min, concat = type, tostring, pcall, math.min, table.concat

local _M = {}

-- After env (read at every call, ahead of the cache), in order.
local CHAIN = { web_identity, shared, container, imds }

-- Seconds between refresh attempts while a failed refresh leaves the old
-- credentials in use, and the least time fresh credentials that arrive
-- already inside the margin are used before asking again: either way the
-- service is not asked at every call.
local RETRY_AFTER_FAILURE = 10
local MIN_REFRESH_GAP = 60

local Provider = {}
Provider.__index = Provider

local function fail(message)
    return nil, errors.new("CredentialsError", message)
end

-- opts: credentials (table or function), profile, send (transport), clock,
-- refresh_margin (seconds, default 300), lock (an object with run(fn)).
function _M.new(opts)
    opts = opts or {}
    local self = setmetatable({
        explicit = opts.credentials, profile = opts.profile, send = opts.send, lock = opts.lock,
        clock = opts.clock or require("kinesis_video_signaling.core").now,
        margin = opts.refresh_margin or 300,
    }, Provider)
    if not self.send then
        -- standalone use: a libcurl transport of its own, made when needed
        self.send = function(req)
            local send, why = require("kinesis_video_signaling.transport").curl{ verify_tls = true }
            if not send then return nil, why end
            self.send = send
            return send(req)
        end
    end
    return self
end

local function from_user(c, what, now)
    local creds, why = common.from_fields(c, common.USER_NAMES, now)
    if not creds then
        local msg = type(c) == "table" and (why:gsub("^the answer", "the table")) or "not a table"
        return nil, what .. ": " .. msg
    end
    creds.source = what
    return creds
end

local function call_function(fn, now)
    local ok, c, why = pcall(fn)
    if not ok then return fail("the credentials function raised an error") end
    if c == nil then
        return fail("the credentials function gave none" .. (why ~= nil and (": " .. tostring(why)) or ""))
    end
    local creds, bad = from_user(c, "the credentials function", now)
    if not creds then return fail(bad) end
    return creds
end

-- The sources after the environment; env_why says why it gave nothing.
function Provider:chain(env_why)
    local ctx = {
        send = self.send, clock = self.clock, profile = self.profile,
        region = function()
            return endpoints.region(nil, nil, function() return shared.region(self.profile) end)
        end,
    }
    local tried = { env.name .. " (" .. env_why .. ")" }
    for _, source in ipairs(CHAIN) do
        local ok, c, why, failed = pcall(source.load, ctx)
        if not ok then c, why, failed = nil, "raised an error: " .. tostring(c), true end
        if c then
            c.source = source.name
            return c
        end
        if failed then
            return fail("could not get credentials from " .. source.name .. ": " .. why
                .. " (tried before it: " .. concat(tried, "; ") .. ")")
        end
        tried[#tried + 1] = source.name .. " (" .. why .. ")"
    end
    return fail("no credentials found; tried: " .. concat(tried, "; "))
end

local function usable(entry, now)
    if not entry then return false end
    if not entry.expires_at then return true end
    return now < entry.refresh_at and now < entry.expires_at
end

function Provider:store(c, now)
    local exp = c.expiration
    if exp then
        local refresh_at = exp - self.margin
        local earliest = now + min(MIN_REFRESH_GAP, (exp - now) / 2)
        if refresh_at < earliest then refresh_at = earliest end
        self.cache = { creds = c, expires_at = exp, refresh_at = refresh_at }
    elseif type(self.explicit) == "function" then
        self.cache = nil -- the user's function decides at every call
    else
        self.cache = { creds = c }
    end
end

-- One refresh; runs under the lock when there is one.
function Provider:refresh(env_why)
    local now = self.clock()
    if usable(self.cache, now) then return self.cache.creds end -- refreshed while this caller waited
    local c, err
    if type(self.explicit) == "function" then
        c, err = call_function(self.explicit, now)
    else
        c, err = self:chain(env_why)
    end
    if c then
        self:store(c, now)
        return c
    end
    local old = self.cache
    if old and old.expires_at and now < old.expires_at then
        old.refresh_at = now + RETRY_AFTER_FAILURE
        return old.creds
    end
    return nil, err
end

-- Returns { access_key_id, secret_access_key, session_token, expiration,
-- source } or nil, err (code CredentialsError).
function Provider:get()
    local explicit = self.explicit
    if type(explicit) == "table" then
        if not self.static then
            local c, why = from_user(explicit, "the credentials option", self.clock())
            if not c then return fail(why) end
            self.static = c
        end
        return self.static
    end
    local env_why
    if explicit == nil then
        local c, why, failed = env.load()
        if c then
            c.source = env.name
            return c
        end
        if failed then return fail(env.name .. ": " .. why) end
        env_why = why
    end
    if usable(self.cache, self.clock()) then return self.cache.creds end
    if not self.lock then return self:refresh(env_why) end
    local out = { pcall(self.lock.run, self.lock, function() return self:refresh(env_why) end) }
    if out[1] and out[2] then return out[2] end
    local old = self.cache
    if old and old.expires_at and self.clock() < old.expires_at then return old.creds end
    if not out[1] then return fail("the credentials refresh lock raised an error: " .. tostring(out[2])) end
    if errors.is_error(out[3]) and out[3].code == "CredentialsError" then return nil, out[3] end
    return fail("waiting for the credentials refresh: " .. tostring(out[3]))
end

-- The region of the shared config profile, when there is one.
function Provider:region()
    local ok, region = pcall(shared.region, self.profile)
    return ok and region or nil
end

return _M
