-- kvs.new options: their types, ranges and defaults. Unknown options are
-- refused, so a misspelt one never silently does nothing.
local errors = require "kinesis_video_signaling.errors"

local type, pairs, format = type, pairs, string.format

local _M = {}

local function string_opt(v) return type(v) == "string" and v ~= "" end
local function positive(v) return type(v) == "number" and v > 0 and v < 1e9 end
local function non_negative(v) return type(v) == "number" and v >= 0 and v < 1e9 end

-- name = { check, rule, default }
local OPTIONS = {
    region = { string_opt, "a non-empty string such as \"us-west-2\"" },
    endpoint = { string_opt, "a URL such as \"https://host\"" },
    control_endpoint = { string_opt, "a URL such as \"https://host\"" },
    credentials = { function(v) return type(v) == "table" or type(v) == "function" end,
                    "a table { access_key_id, secret_access_key, session_token } or a function" },
    profile = { string_opt, "a profile name" },
    role = { function(v) return v == "VIEWER" or v == "MASTER" end, "\"VIEWER\" or \"MASTER\"", "VIEWER" },
    timeout = { positive, "a number of seconds > 0", 10 },
    connect_timeout = { positive, "a number of seconds > 0", 3 },
    max_attempts = { function(v) return type(v) == "number" and v >= 1 and v <= 20 and v % 1 == 0 end,
                     "an integer from 1 to 20", 3 },
    retry_base_delay = { non_negative, "a number of seconds >= 0", 1 },
    ca_file = { string_opt, "a path to a PEM file" },
    verify_tls = { function(v) return type(v) == "boolean" end, "a boolean", true },
    transport = { function(v) return v == "curl" or v == "ngx" or type(v) == "function" end,
                  "\"curl\", \"ngx\" or a function(req)" },
    refresh_margin = { non_negative, "a number of seconds >= 0", 60 },
    credentials_refresh_margin = { non_negative, "a number of seconds >= 0", 300 },
    clock = { function(v) return type(v) == "function" end, "a function returning Unix seconds" },
    shared_dict = { string_opt, "the name of a lua_shared_dict" },
}

-- Returns a fresh table of options with defaults filled in, or nil, err.
function _M.check(opts)
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then
        return nil, errors.param(format("options: must be a table (got %s)", type(opts)))
    end
    local out = {}
    for name, value in pairs(opts) do
        local spec = OPTIONS[name]
        if not spec then
            return nil, errors.param(format("%s: unknown option for kvs.new", tostring(name)))
        end
        if not spec[1](value) then
            return nil, errors.param(format("%s: must be %s", name, spec[2]))
        end
        out[name] = value
    end
    for name, spec in pairs(OPTIONS) do
        if out[name] == nil then out[name] = spec[3] end
    end
    return out
end

return _M
