-- Where requests go: the region, the control plane, and the signaling
-- endpoint (configured, or discovered with GetSignalingChannelEndpoint).
local getenv = os.getenv

local _M = {}

local function nonempty(v)
    if v ~= nil and v ~= "" then return v end
end

function _M.region_of_arn(arn)
    return type(arn) == "string" and arn:match("^arn:[^:]+:[^:]+:([^:]+):") or nil
end

-- The client's region, else the ARN's, else AWS_REGION, AWS_DEFAULT_REGION,
-- else the shared config profile's (profile_region is a function or nil).
function _M.region(client_region, arn, profile_region)
    return nonempty(client_region) or _M.region_of_arn(arn) or nonempty(getenv("AWS_REGION"))
        or nonempty(getenv("AWS_DEFAULT_REGION")) or (profile_region and nonempty(profile_region()))
end

-- amazonaws.com, or amazonaws.com.cn for the China regions.
function _M.dns_suffix(region)
    if region:match("^cn%-") then return "amazonaws.com.cn" end
    return "amazonaws.com"
end

-- Runs at every call: the byte test skips the pattern for the usual URL.
local function strip_slash(url)
    if url:byte(-1) ~= 47 then return url end -- no trailing "/"
    return (url:gsub("/+$", ""))
end

-- A configured signaling endpoint, or nil when it must be discovered.
function _M.configured_signaling(client_endpoint)
    local url = nonempty(client_endpoint) or nonempty(getenv("AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING"))
        or nonempty(getenv("AWS_ENDPOINT_URL"))
    return url and strip_slash(url)
end

function _M.control(client_control, region)
    local url = nonempty(client_control) or nonempty(getenv("AWS_ENDPOINT_URL_KINESIS_VIDEO"))
    if url then return strip_slash(url) end
    return "https://kinesisvideo." .. region .. "." .. _M.dns_suffix(region)
end

-- The ResourceEndpoint for `protocol` in a GetSignalingChannelEndpoint answer.
function _M.pick(answer, protocol)
    local list = type(answer) == "table" and answer.ResourceEndpointList
    if type(list) ~= "table" then return nil end
    for _, e in ipairs(list) do
        if type(e) == "table" and e.Protocol == protocol and type(e.ResourceEndpoint) == "string" then
            return strip_slash(e.ResourceEndpoint)
        end
    end
end

return _M
