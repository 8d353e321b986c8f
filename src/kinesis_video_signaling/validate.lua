-- Checks what the caller sends against the model before anything is sent,
-- and what the service answers for types only.
local errors = require "kinesis_video_signaling.errors"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local format, concat, sort = string.format, table.concat, table.sort

local _M = {}

local function lua_type_name(v)
    local t = type(v)
    if t == "number" and math.type then t = math.type(v) == "integer" and "integer" or "number" end
    return t
end

local function check_string(name, value, rule)
    if type(value) ~= "string" then
        return format("%s: must be a string (got %s)", name, lua_type_name(value))
    end
    if rule.enum then
        for _, allowed in ipairs(rule.enum) do
            if value == allowed then return nil end
        end
        return format("%s: must be one of %s (got %q)", name, concat(rule.enum, ", "), value:sub(1, 40))
    end
    if #value < rule.min or #value > rule.max then
        return format("%s: length must be between %d and %d (got %d)", name, rule.min, rule.max, #value)
    end
    if rule.pattern and not value:find(rule.pattern) then
        return format("%s: must match the pattern %s", name, rule.rule)
    end
    return nil
end

-- One string member against its model rule: nil, or why it is refused.
_M.member = check_string

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    sort(keys)
    return keys
end

-- Returns a fresh table of the members to send, or nil, ParamValidationError.
function _M.input(op, params)
    if type(params) ~= "table" then
        return nil, errors.param(format("params: must be a table (got %s)", type(params)))
    end
    local input = {}
    for name, value in pairs(params) do
        if type(name) ~= "string" or not op.members[name] then
            return nil, errors.param(format("%s: unknown member for %s (members: %s)",
                tostring(name), op.name, concat(sorted_keys(op.members), ", ")))
        end
        local why = check_string(name, value, op.members[name])
        if why then return nil, errors.param(why) end
        input[name] = value
    end
    for _, name in ipairs(op.required) do
        if input[name] == nil then
            return nil, errors.param(format("%s: required by %s", name, op.name))
        end
    end
    return input
end

local shape_check

local function check_list(path, value, shape)
    if type(value) ~= "table" then return path .. " is not a list" end
    local n = #value
    for k in pairs(value) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return path .. " is not a list" end
    end
    for i = 1, n do
        local why = shape_check(format("%s[%d]", path, i), value[i], shape.member)
        if why then return why end
    end
end

shape_check = function(path, value, shape)
    if shape.type == "list" then return check_list(path, value, shape) end
    if shape.type == "structure" then
        if type(value) ~= "table" then return path .. " is not an object" end
        for name, member in pairs(shape.members) do
            if value[name] ~= nil then
                local why = shape_check(path .. "." .. name, value[name], member)
                if why then return why end
            end
        end
        return nil
    end
    if type(value) ~= shape.type then
        return format("%s is a %s, not a %s", path, type(value), shape.type)
    end
end

-- Returns nil when the decoded answer has the model's types, else why not.
function _M.output(op, decoded)
    return shape_check(op.name .. " answer", decoded, { type = "structure", members = op.output })
end

return _M
