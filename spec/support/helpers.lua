-- Shared spec fixtures: file loading, HTTP request text parsing, environment
-- save/restore.
local _M = {}

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

return _M
