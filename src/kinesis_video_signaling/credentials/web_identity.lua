-- Web identity (EKS IRSA and the like): AWS_WEB_IDENTITY_TOKEN_FILE and
-- AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME) exchanged at STS with
-- AssumeRoleWithWebIdentity, an unsigned form POST. The token is read at
-- every refresh, since the platform rotates the file.
local common = require "kinesis_video_signaling.credentials.common"
local endpoints = require "kinesis_video_signaling.endpoints"
local errors = require "kinesis_video_signaling.errors"
local xml = require "kinesis_video_signaling.credentials.xml"

local format, byte, floor, tostring = string.format, string.byte, math.floor, tostring
local getenv = common.getenv

local _M = { name = "web identity" }

local TIMEOUT, CONNECT_TIMEOUT = 10, 3

-- The STS endpoint for a region (nil: the global endpoint), unless
-- AWS_ENDPOINT_URL_STS names one.
function _M.endpoint(region)
    local override = getenv("AWS_ENDPOINT_URL_STS")
    if override then return (override:gsub("/+$", "")) end
    if not region then return "https://sts.amazonaws.com" end
    return "https://sts." .. region .. "." .. endpoints.dns_suffix(region)
end

local function encode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

-- The form body of the request.
function _M.form(role_arn, session_name, token)
    return "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" .. encode(role_arn)
        .. "&RoleSessionName=" .. encode(session_name) .. "&WebIdentityToken=" .. encode(token)
end

-- Credentials from an STS answer body, or nil, why.
function _M.parse(body, now)
    local block = body:match("<Credentials>(.-)</Credentials>")
    if not block then return nil, "the STS answer has no Credentials element" end
    local fields = {}
    for _, name in ipairs{ "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration" } do
        fields[name] = xml.text(block, name)
    end
    if not common.nonempty(fields.SessionToken) then return nil, "the STS answer has no SessionToken" end
    if not common.nonempty(fields.Expiration) then return nil, "the STS answer has no Expiration" end
    return common.from_fields(fields, common.STS_NAMES, now)
end

-- Why STS refused, from its ErrorResponse, with the token scrubbed.
local function refusal(resp, token)
    local body = resp.body or ""
    local code, message = xml.text(body, "Code"), xml.text(body, "Message")
    local s = "STS answered HTTP " .. tostring(resp.status)
    if code then s = s .. " " .. code:sub(1, 100) end
    if message then s = s .. ": " .. message:sub(1, 300) end
    local id = xml.text(body, "RequestId") or (resp.headers and resp.headers["x-amzn-requestid"])
    if id then s = s .. " (request id " .. id:sub(1, 100) .. ")" end
    return errors.scrub(s, { token })
end

-- ctx: send, clock, region (a function). Returns creds, or nil, why, failed.
function _M.load(ctx)
    local token_file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    if not token_file then return nil, "AWS_WEB_IDENTITY_TOKEN_FILE not set" end
    local role_arn = getenv("AWS_ROLE_ARN")
    if not role_arn then return nil, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not", true end
    local token, why = common.read_file(token_file)
    if not token then return nil, "cannot read the token file: " .. tostring(why), true end
    token = token:gsub("^%s+", ""):gsub("%s+$", "")
    if token == "" then return nil, "the token file " .. token_file .. " is empty", true end
    local session = getenv("AWS_ROLE_SESSION_NAME") or ("kinesis-video-signaling-" .. floor(ctx.clock()))
    local url = _M.endpoint(ctx.region()) .. "/"
    local resp, err = ctx.send{
        method = "POST", url = url, body = _M.form(role_arn, session, token),
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8",
                    Accept = "text/xml" },
        timeout = TIMEOUT, connect_timeout = CONNECT_TIMEOUT,
    }
    if not resp then
        return nil, errors.scrub("STS request to " .. url .. " failed: " .. tostring(err), { token }), true
    end
    if resp.status ~= 200 then return nil, refusal(resp, token), true end
    local creds, bad = _M.parse(resp.body or "", ctx.clock())
    if not creds then return nil, bad, true end
    return creds
end

return _M
