-- Just enough XML for STS answers: the text of a named element, with the
-- five predefined entities and character references decoded.
local char, floor, tonumber = string.char, math.floor, tonumber

local _M = {}

-- UTF-8 bytes of a code point (LuaJIT has no utf8 library).
local function utf8_char(cp)
    if cp < 0x80 then return char(cp) end
    if cp < 0x800 then return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40) end
    if cp < 0x10000 then
        return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
    end
    return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40, 0x80 + floor(cp / 0x40) % 0x40,
        0x80 + cp % 0x40)
end

local NAMED = { lt = "<", gt = ">", amp = "&", quot = "\"", apos = "'" }

local function entity(name)
    local cp
    if name:sub(1, 2) == "#x" or name:sub(1, 2) == "#X" then
        cp = tonumber(name:sub(3), 16)
    elseif name:sub(1, 1) == "#" then
        cp = tonumber(name:sub(2), 10)
    else
        return NAMED[name]
    end
    if cp and cp > 0 and cp <= 0x10FFFF and not (cp >= 0xD800 and cp <= 0xDFFF) then return utf8_char(cp) end
end

-- One pass, so "&amp;lt;" becomes "&lt;" and not "<".
function _M.unescape(s)
    return (s:gsub("&(#?[%w]+);", entity))
end

-- The decoded, trimmed text of the first <name>...</name> in s, or nil.
function _M.text(s, name)
    local v = s:match("<" .. name .. ">(.-)</" .. name .. ">")
    if not v then return nil end
    return _M.unescape((v:gsub("^%s+", ""):gsub("%s+$", "")))
end

return _M
