-- Where AWS credentials come from: explicit (a table, or a function), then
-- the environment. The first source that yields credentials wins.
local errors = require "kinesis_video_signaling.errors"

local type, getenv, concat = type, os.getenv, table.concat

local _M = {}

local Provider = {}
Provider.__index = Provider

-- Checks the shape of a credentials table and copies it.
local function normalize(c, source)
    if type(c) ~= "table" then
        return nil, source .. " did not give a credentials table"
    end
    if type(c.access_key_id) ~= "string" or c.access_key_id == "" then
        return nil, source .. " has no access_key_id"
    end
    if type(c.secret_access_key) ~= "string" or c.secret_access_key == "" then
        return nil, source .. " has no secret_access_key"
    end
    if c.session_token ~= nil and type(c.session_token) ~= "string" then
        return nil, source .. " has a session_token that is not a string"
    end
    return {
        access_key_id = c.access_key_id,
        secret_access_key = c.secret_access_key,
        session_token = c.session_token ~= "" and c.session_token or nil,
        expiration = c.expiration,
        source = source,
    }
end

local function from_explicit(explicit)
    if type(explicit) == "function" then
        local ok, c, why = pcall(explicit)
        if not ok then return nil, "the credentials function raised an error" end
        if c == nil then return nil, "the credentials function gave none" .. (why and (": " .. tostring(why)) or "") end
        return normalize(c, "the credentials function")
    end
    return normalize(explicit, "the credentials option")
end

local function from_env()
    local id, secret = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
    if not id or id == "" then return nil, "environment: AWS_ACCESS_KEY_ID is not set" end
    if not secret or secret == "" then return nil, "environment: AWS_SECRET_ACCESS_KEY is not set" end
    return normalize({ access_key_id = id, secret_access_key = secret, session_token = getenv("AWS_SESSION_TOKEN") },
        "environment")
end

-- opts: credentials (table or function), profile, send (transport), clock.
function _M.new(opts)
    return setmetatable({ explicit = opts.credentials, opts = opts }, Provider)
end

function Provider:get()
    if self.explicit ~= nil then
        local c, why = from_explicit(self.explicit)
        if not c then return nil, errors.new("CredentialsError", why) end
        return c
    end
    local c, why = from_env()
    if c then return c end
    return nil, errors.new("CredentialsError", "no credentials found; tried: " .. concat({ why }, "; "))
end

-- The region from the shared config profile, when there is one.
function Provider:region()
    return nil
end

return _M
