-- What every credential source shares: the shape of a credentials table and
-- the checks on an answer (missing fields, unreadable or past expiration).
-- Messages name fields, never their values.
local httpdate = require "kinesis_video_signaling.httpdate"

local type, tostring, floor = type, tostring, math.floor

local _M = {}

local function nonempty(v)
    return type(v) == "string" and v ~= ""
end

_M.nonempty = nonempty

-- Unix seconds from a number or an ISO-8601 string; nil, why otherwise.
function _M.expiration(v)
    if type(v) == "number" then
        if v ~= v or v <= 0 or v >= 1e11 then return nil, "Expiration is not a valid time" end
        return v
    end
    local t = httpdate.iso8601(v)
    if not t then return nil, "Expiration is not an ISO-8601 time" end
    return t
end

-- A credentials table from answer fields; names maps our names to the
-- source's (id, secret, token, expiration). now: current Unix seconds.
function _M.from_fields(a, names, now)
    if type(a) ~= "table" then return nil, "the answer is not an object" end
    local id, secret, token = a[names.id], a[names.secret], a[names.token]
    if not nonempty(id) then return nil, "the answer has no " .. names.id end
    if not nonempty(secret) then return nil, "the answer has no " .. names.secret end
    if token ~= nil and type(token) ~= "string" then return nil, names.token .. " is not a string" end
    local exp = a[names.expiration]
    if exp ~= nil and exp ~= "" then
        local why
        exp, why = _M.expiration(exp)
        if not exp then return nil, why end
        if now and exp <= now then
            return nil, "the credentials expired " .. tostring(floor(now - exp)) .. " s ago"
        end
    else
        exp = nil
    end
    return {
        access_key_id = id,
        secret_access_key = secret,
        session_token = nonempty(token) and token or nil,
        expiration = exp,
    }
end

-- The form a user gives: { access_key_id, secret_access_key, session_token,
-- expiration (Unix seconds or ISO-8601) }.
_M.USER_NAMES = { id = "access_key_id", secret = "secret_access_key", token = "session_token",
                  expiration = "expiration" }

-- The form ECS, EKS and EC2 answer with.
_M.METADATA_NAMES = { id = "AccessKeyId", secret = "SecretAccessKey", token = "Token",
                      expiration = "Expiration" }

-- The form STS and credential_process answer with.
_M.STS_NAMES = { id = "AccessKeyId", secret = "SecretAccessKey", token = "SessionToken",
                 expiration = "Expiration" }

-- Reads a whole file; nil, why, missing (true when it does not exist).
function _M.read_file(path)
    local f, why, errno = io.open(path, "rb")
    if not f then return nil, why, errno == 2 end
    local data = f:read("*a")
    f:close()
    if not data then return nil, path .. ": cannot read" end
    return data
end

function _M.getenv(name)
    local v = os.getenv(name)
    if v ~= nil and v ~= "" then return v end
end

return _M
