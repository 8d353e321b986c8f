-- Shared spec fixtures: the channel and keys specs call with, file loading,
-- HTTP request text parsing, environment save/restore.
local _M = {}

-- The channel, request paths and payload the specs use.
_M.ARN = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123"
_M.ICE_PATH = "/v1/get-ice-server-config"
_M.OFFER_PATH = "/v1/send-alexa-offer-to-master"
_M.PAYLOAD = "eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTAifQ=="

-- AWS's documentation example keys, and a session token of the usual shape.
_M.ACCESS_KEY_ID = "AKIDEXAMPLE"
_M.SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
_M.SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE"

-- A fresh credentials table, so that no spec sees another's changes: the
-- example keys with `token` (nil for none).
function _M.creds(token)
    return { access_key_id = _M.ACCESS_KEY_ID, secret_access_key = _M.SECRET_KEY, session_token = token }
end

local SPEC_DIR = debug.getinfo(1, "S").source:match("^@(.*)/support/[^/]+$") or "spec"
_M.FIXTURES = SPEC_DIR .. "/fixtures"

function _M.read_file(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
end

function _M.write_file(path, data)
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
end

function _M.exists(path)
    local f = io.open(path, "rb")
    if f then f:close() end
    return f ~= nil
end

-- Parses request text as the SigV4 suites write it: request line, Name:value
-- headers (obs-fold continuations joined with a space), empty line, body.
-- Headers come back as an ordered list of { name, value }.
function _M.parse_request(text)
    local head, body = text:match("^(.-)\n\n(.*)$")
    if not head then head, body = text:gsub("\n$", ""), "" end
    local lines = {}
    for line in (head .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
    local method, target = lines[1]:match("^(%S+) (.*) HTTP/1%.1$")
    local headers = {}
    for i = 2, #lines do
        local line = lines[i]
        if line:match("^%s") and #headers > 0 then
            local last = headers[#headers]
            last[2] = last[2] .. " " .. line:gsub("^%s+", "")
        elseif line ~= "" then
            local name, value = line:match("^([^:]+):(.*)$")
            headers[#headers + 1] = { name, value }
        end
    end
    return { method = method, target = target, headers = headers, body = body }
end

-- Folds an ordered header list into the name = value / name = { values }
-- table kvs.sign takes, merging repeats under the first spelling's name.
function _M.header_table(list, skip)
    local t, names = {}, {}
    for _, h in ipairs(list) do
        local lower = h[1]:lower()
        if not (skip and skip[lower]) then
            local name = names[lower] or h[1]
            names[lower] = name
            local prev = t[name]
            if prev == nil then
                t[name] = h[2]
            elseif type(prev) == "table" then
                prev[#prev + 1] = h[2]
            else
                t[name] = { prev, h[2] }
            end
        end
    end
    return t
end

-- Sets environment variables for the duration of fn, then restores them.
function _M.with_env(vars, fn)
    local core = require "kinesis_video_signaling.core"
    local saved = {}
    for k, v in pairs(vars) do
        saved[k] = os.getenv(k) or false
        core.setenv(k, v ~= false and v or nil)
    end
    local ok, err = pcall(fn)
    for k, v in pairs(saved) do core.setenv(k, v or nil) end
    if not ok then error(err, 0) end
end


-- X-Amz-Date (YYYYMMDDTHHMMSSZ) to Unix seconds, without the local time zone.
function _M.amz_date_to_unix(s)
    local y, mo, d, h, mi, se = s:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    if mo <= 2 then y = y - 1 end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
    local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
    return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(se)
end

-- The recorded request's header (case-insensitive name), or nil.
function _M.header(req, name)
    name = name:lower()
    for _, h in ipairs(req.headers) do
        if h[1]:lower() == name then return h[2] end
    end
end

-- Recomputes the signature of a request the replay server recorded, from
-- what went over the wire, and returns expected, actual.
function _M.recompute_signature(req, base_url, creds, region)
    local kvs = require "kinesis_video_signaling"
    local headers = {}
    local signed_names = _M.header(req, "authorization"):match("SignedHeaders=([^,]+)")
    for name in signed_names:gmatch("[^;]+") do
        if name ~= "x-amz-date" and name ~= "x-amz-security-token" then headers[name] = _M.header(req, name) end
    end
    local signed = assert(kvs.sign{
        method = req.method, url = base_url .. req.target, headers = headers, body = req.body,
        region = region, service = "kinesisvideo", credentials = creds,
        time = _M.amz_date_to_unix(_M.header(req, "x-amz-date")),
    })
    return signed.signature, _M.header(req, "authorization"):match("Signature=(%x+)")
end

-- A client for specs: `base` options, then `extra` on top (a value of false
-- leaves that option out).
function _M.client(base, extra)
    local kvs = require "kinesis_video_signaling"
    local opts = {}
    for k, v in pairs(base) do opts[k] = v end
    for k, v in pairs(extra or {}) do
        if v == false then opts[k] = nil else opts[k] = v end
    end
    return assert(kvs.new(opts))
end

return _M
