-- Turns an HTTP answer into decoded data or the error shape: the AWS code
-- from x-amzn-ErrorType or the body, HttpError for non-AWS answers.
local cjson = require "cjson.safe"
local errors = require "kinesis_video_signaling.errors"
local validate = require "kinesis_video_signaling.validate"

local type = type

local _M = {}

local json = cjson.new()
json.decode_max_depth(32)

-- The body as a decoded JSON object, not yet made plain data.
local function decode_raw(body)
    if type(body) ~= "string" or body == "" then return nil, "empty body" end
    local v, why = json.decode(body)
    if v == nil then return nil, "body is not JSON (" .. tostring(why) .. ")" end
    if type(v) ~= "table" or (v[1] ~= nil) then return nil, "body is not a JSON object" end
    return v
end

-- The body as plain Lua data (JSON null as nil, whole numbers as integers).
function _M.decode(body)
    local v, why = decode_raw(body)
    if v == nil then return nil, why end
    return validate.plain(v)
end

function _M.encode(t)
    return json.encode(t)
end

local function request_id(headers)
    return headers["x-amzn-requestid"] or headers["x-amz-request-id"] or headers["x-amz-id-2"]
end

-- "ResourceNotFoundException:http://internal..." and "ns#Code" both give "Code".
local function clean_code(code)
    if type(code) ~= "string" or code == "" then return nil end
    code = code:match("^[^:]*")
    return code:match("#(.*)$") or code
end

-- creds: those the request was signed with, whose secrets are scrubbed
-- from any message the service quotes back.
local function service_error(resp, creds)
    local headers = resp.headers or {}
    local body = _M.decode(resp.body) or {}
    local code = clean_code(headers["x-amzn-errortype"]) or clean_code(body.__type) or clean_code(body.code)
        or clean_code(body.Code)
    local fields = { status = resp.status, request_id = request_id(headers) }
    if not code then
        local ctype = headers["content-type"] or "no content type"
        return errors.new("HttpError",
            ("unexpected HTTP %d answer (%s, %d bytes)"):format(resp.status, ctype, #(resp.body or "")), fields)
    end
    local message = body.message or body.Message
    if type(message) ~= "string" then message = "no message" end
    local secrets = creds and { creds.secret_access_key, creds.session_token }
    return errors.new(code, errors.scrub(message, secrets), fields)
end

-- Returns the decoded answer of `op` (nil op: any JSON object), or nil, err.
function _M.classify(op, resp, creds)
    if resp.status < 200 or resp.status > 299 then return nil, service_error(resp, creds) end
    local decoded, why = decode_raw(resp.body)
    if decoded and op then
        decoded, why = validate.output(op, decoded)
    elseif decoded then
        decoded = validate.plain(decoded)
    end
    if not decoded then
        return nil, errors.new("InvalidResponseError", why,
            { status = resp.status, request_id = request_id(resp.headers or {}) })
    end
    return decoded
end

return _M
