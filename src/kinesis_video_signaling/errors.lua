-- The one error shape every failure returns: a table with code, message,
-- status, request_id and retryable, whose tostring reads like
-- "ResourceNotFoundException: The requested channel is not found (HTTP 404, request id 5b1a...)".
local tostring, setmetatable, type, pairs = tostring, setmetatable, type, pairs
local concat = table.concat

local _M = {}

local mt = {}

mt.__tostring = function(err)
    local extra = {}
    if err.status then extra[#extra + 1] = "HTTP " .. tostring(err.status) end
    if err.request_id then extra[#extra + 1] = "request id " .. tostring(err.request_id) end
    local s = tostring(err.code) .. ": " .. tostring(err.message)
    if #extra > 0 then s = s .. " (" .. concat(extra, ", ") .. ")" end
    return s
end

-- Codes of failures that may succeed when tried again.
local RETRYABLE = {
    TimeoutError = true,
    NetworkError = true,
    ThrottlingException = true,
    ClientLimitExceededException = true,
    TooManyRequestsException = true,
    RequestLimitExceeded = true,
}

local RETRYABLE_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

function _M.is_retryable(code, status)
    return RETRYABLE[code] == true or RETRYABLE_STATUS[status] == true
end

-- fields: status, request_id, retryable (derived from code and status when nil).
function _M.new(code, message, fields)
    local err = { code = code, message = message }
    if fields then
        for k, v in pairs(fields) do err[k] = v end
    end
    if err.retryable == nil then err.retryable = _M.is_retryable(code, err.status) end
    return setmetatable(err, mt)
end

function _M.is_error(v)
    return type(v) == "table" and getmetatable(v) == mt
end

function _M.param(message)
    return _M.new("ParamValidationError", message)
end

local function escape_pattern(s)
    return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- Replaces every occurrence of the given secrets in a message, so a service
-- that quotes our request (session token included) cannot leak it into err.
function _M.scrub(message, secrets)
    if type(message) ~= "string" or not secrets then return message end
    for _, secret in pairs(secrets) do
        if type(secret) == "string" and #secret >= 4 and message:find(secret, 1, true) then
            message = message:gsub(escape_pattern(secret), "<redacted>")
        end
    end
    return message
end

return _M
