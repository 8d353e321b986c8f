-- Container credentials (ECS task roles, EKS Pod Identity):
-- AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on 169.254.170.2, or
-- AWS_CONTAINER_CREDENTIALS_FULL_URI, with an Authorization header from
-- AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every refresh, it
-- rotates) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
local cjson = require "cjson.safe"
local common = require "kinesis_video_signaling.credentials.common"
local errors = require "kinesis_video_signaling.errors"

local type, tostring = type, tostring
local getenv = common.getenv

local _M = { name = "container" }

local ECS_HOST = "http://169.254.170.2"
local TIMEOUT, CONNECT_TIMEOUT = 2, 1

-- Plain HTTP is only for the agents' own addresses: a full URI elsewhere
-- would send the authorization token over the network in clear.
local HTTP_HOSTS = { ["169.254.170.2"] = true, ["169.254.170.23"] = true, ["[fd00:ec2::23]"] = true,
                     localhost = true, ["[::1]"] = true }

local function http_host_allowed(host)
    if not host then return false end
    host = host:lower()
    return HTTP_HOSTS[host] or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- The URL to ask, or nil, why, failed. Reads the environment only, so it
-- can be checked without sending anything.
function _M.url()
    local relative = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative then
        if relative:sub(1, 1) ~= "/" then relative = "/" .. relative end
        return ECS_HOST .. relative
    end
    local full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not full then return nil, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set" end
    local scheme, authority = full:match("^(%a[%w+.-]*)://([^/?#]*)")
    scheme = scheme and scheme:lower()
    local host = authority and not authority:find("@", 1, true)
        and (authority:match("^(%[[^%]]*%])") or authority:match("^([^:]+)"))
    if scheme == "https" then return full end
    if scheme == "http" and http_host_allowed(host) then return full end
    if scheme == "http" then
        return nil, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is only allowed to a loopback or "
            .. "container agent address" .. (host and (" (got host " .. host .. ")") or ""), true
    end
    return nil, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL", true
end

-- The Authorization value, or nil (none configured), or nil, why.
function _M.token()
    local file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    local token
    if file then
        local why
        token, why = common.read_file(file)
        if not token then return nil, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. tostring(why) end
        token = token:gsub("%s+$", "")
    else
        token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        if not token then return nil end
    end
    if token == "" or token:find("[\r\n]") then return nil, "the authorization token is empty or has a line break" end
    return token
end

-- ctx: send, clock. Returns creds, or nil, why, failed.
function _M.load(ctx)
    local url, why, failed = _M.url()
    if not url then return nil, why, failed end
    local token
    token, why = _M.token()
    if why then return nil, why, true end
    local resp, err = ctx.send{
        method = "GET", url = url, headers = { Accept = "application/json", Authorization = token },
        timeout = TIMEOUT, connect_timeout = CONNECT_TIMEOUT,
    }
    if not resp then return nil, errors.scrub("request to " .. url .. " failed: " .. tostring(err), { token }), true end
    local answer = cjson.decode(resp.body or "")
    if resp.status ~= 200 then
        local detail = type(answer) == "table" and (answer.message or answer.Message)
        detail = type(detail) == "string" and (": " .. detail:sub(1, 300)) or ""
        return nil, errors.scrub(url .. " answered HTTP " .. tostring(resp.status) .. detail, { token }), true
    end
    if type(answer) ~= "table" then return nil, url .. " did not answer with a JSON object", true end
    local creds, bad = common.from_fields(answer, common.METADATA_NAMES, ctx.clock())
    if not creds then return nil, url .. ": " .. bad, true end
    return creds
end

return _M
