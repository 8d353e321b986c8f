-- Checks what the caller sends against the model before anything is sent,
-- and what the service answers for types only.
local errors = require "kinesis_video_signaling.errors"

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
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
        -- The value is not quoted: it could hold line breaks, or a secret passed by mistake.
        return format("%s: must be one of %s", name, concat(rule.enum, ", "))
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

local tointeger = math.tointeger or function(n) return n end
local null = require("cjson.safe").null

-- Plain Lua data from decoded JSON: null becomes nil, whole numbers become
-- integers (cjson decodes every number as a float on Lua 5.3+).
local function plain(v)
    if type(v) == "number" then return tointeger(v) or v end
    if type(v) ~= "table" then return v end
    for k, x in pairs(v) do
        if x == null then v[k] = nil else v[k] = plain(x) end
    end
    return v
end
_M.plain = plain

-- JSON arrays decode to tables keyed 1..n and objects to string keys only,
-- so key 1 (or emptiness) tells the two apart.
local function is_list(v)
    return type(v) == "table" and (v[1] ~= nil or next(v) == nil)
end

local SHAPE_NAMES = { list = "list", structure = "object", string = "string", number = "number" }

local function mismatch(v, t)
    return format(" is a %s, not a %s", type(v) == "table" and (is_list(v) and "list" or "object")
        or type(v), SHAPE_NAMES[t] or t)
end

-- Checks decoded JSON against an output shape and makes it plain data in the
-- same walk. Returns the value, or nil and where it broke (built only then).
-- Strings, the commonest leaves, are checked inline; a member is written
-- back only when the walk may have changed it (numbers).
local conform

local function conform_structure(v, members)
    if type(v) ~= "table" or (v[1] ~= nil) then return nil, " is not an object" end
    for k, x in next, v do
        local member = members[k]
        if x == null then
            v[k] = nil
        elseif member then
            local t = member.type
            if t == "string" then
                if type(x) ~= "string" then return nil, "." .. k .. mismatch(x, t) end
            else
                local ok, why = conform(x, member)
                if ok == nil then return nil, "." .. k .. why end
                if t == "number" then v[k] = ok end
            end
        elseif type(x) == "number" then
            v[k] = tointeger(x) or x -- not in the model: passed through as sent
        elseif type(x) == "table" then
            plain(x)
        end
    end
    return v
end

local function conform_list(v, member)
    if not is_list(v) then return nil, " is not a list" end
    local t = member.type
    for i = 1, #v do
        local x = v[i]
        if t == "string" then
            if type(x) ~= "string" then return nil, format("[%d]%s", i, mismatch(x, t)) end
        else
            local ok, why = conform(x, member)
            if ok == nil then return nil, format("[%d]%s", i, why) end
            if t == "number" then v[i] = ok end
        end
    end
    return v
end

conform = function(v, shape)
    local t = shape.type
    if t == "structure" then return conform_structure(v, shape.members) end
    if t == "list" then return conform_list(v, shape.member) end
    if type(v) ~= t then return nil, mismatch(v, t) end
    return t == "number" and (tointeger(v) or v) or v
end

-- The decoded answer of `op` as plain data, or nil and why it does not have
-- the model's types. Members the model does not list pass through.
function _M.output(op, decoded)
    local out, why = conform_structure(decoded, op.output)
    if out == nil then return nil, op.name .. " answer" .. why end
    return out
end

return _M
