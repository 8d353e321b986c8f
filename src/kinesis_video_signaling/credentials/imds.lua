-- EC2 instance metadata, IMDSv2 only: a session token from
-- PUT /latest/api/token, then the role name and the role's credentials.
-- Off EC2 nothing answers, so every step has 1 s and one attempt: a laptop
-- must not hang here.
local cjson = require "cjson.safe"
local common = require "kinesis_video_signaling.credentials.common"

local type, tostring = type, tostring
local getenv = common.getenv

local _M = { name = "instance metadata" }

local TIMEOUT, CONNECT_TIMEOUT = 1, 1
local TOKEN_TTL = "21600"
local ROLE_PATH = "/latest/meta-data/iam/security-credentials/"

-- The metadata service's base URL, or nil, why when it is disabled.
function _M.base()
    local disabled = getenv("AWS_EC2_METADATA_DISABLED")
    if disabled and disabled:lower() == "true" then return nil, "disabled by AWS_EC2_METADATA_DISABLED" end
    local endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    if endpoint then return (endpoint:gsub("/+$", "")) end
    local mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
    if mode and mode:lower() == "ipv6" then return "http://[fd00:ec2::254]" end
    return "http://169.254.169.254"
end

local function ask(ctx, method, url, headers)
    local resp, err = ctx.send{ method = method, url = url, headers = headers, body = method == "PUT" and "" or nil,
                                timeout = TIMEOUT, connect_timeout = CONNECT_TIMEOUT }
    if not resp then return nil, method .. " " .. url .. ": " .. tostring(err) end
    if resp.status ~= 200 then return nil, method .. " " .. url .. " answered HTTP " .. tostring(resp.status), resp end
    return resp.body or ""
end

-- ctx: send, clock. Returns creds, or nil, why.
function _M.load(ctx)
    local base, why = _M.base()
    if not base then return nil, why end
    local token, resp
    token, why = ask(ctx, "PUT", base .. "/latest/api/token", { ["X-aws-ec2-metadata-token-ttl-seconds"] = TOKEN_TTL })
    if not token then return nil, why end
    token = token:gsub("%s+$", "")
    if token == "" or token:find("[\r\n]") then return nil, "the metadata token answer is empty or malformed" end
    local headers = { ["X-aws-ec2-metadata-token"] = token }
    local roles
    roles, why, resp = ask(ctx, "GET", base .. ROLE_PATH, headers)
    if not roles then
        if resp and resp.status == 404 then return nil, "no IAM role is attached to this instance" end
        return nil, why
    end
    local role = roles:match("^%s*([^\r\n]-)%s*\r?\n") or roles:match("^%s*(.-)%s*$")
    if role == "" or role:find("[/?#%s]") then return nil, base .. ROLE_PATH .. " gave no usable role name" end
    local body
    body, why = ask(ctx, "GET", base .. ROLE_PATH .. role, headers)
    if not body then return nil, why end
    local answer = cjson.decode(body)
    if type(answer) ~= "table" then return nil, base .. ROLE_PATH .. role .. " did not answer with a JSON object" end
    if answer.Code ~= nil and answer.Code ~= "Success" then
        return nil, "the metadata service answered Code " .. tostring(answer.Code):sub(1, 100)
    end
    local creds, bad = common.from_fields(answer, common.METADATA_NAMES, ctx.clock())
    if not creds then return nil, base .. ROLE_PATH .. role .. ": " .. bad end
    return creds
end

return _M
