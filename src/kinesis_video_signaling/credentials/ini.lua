-- The INI dialect of ~/.aws/config and ~/.aws/credentials: [section] lines,
-- key = value lines, full-line comments (# or ;), comments after whitespace,
-- and indented continuation lines (sub-properties such as "s3 =" blocks).
-- Errors give the line number only: a line may hold a secret.
local _M = {}

local function trim(s)
    return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Drops a comment that starts after whitespace (" # ..." or " ; ...").
local function strip_comment(s)
    local at = s:find("%s[#;]")
    if at then s = s:sub(1, at - 1) end
    return s
end

-- Returns { [section name] = { [key] = value } } (keys lower-cased), or
-- nil, why. Later keys and repeated sections override earlier ones.
function _M.parse(text)
    local sections = {}
    local current, last_key
    local n = 0
    for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        local line = raw:gsub("\r$", "")
        local first = line:sub(1, 1)
        local body = trim(line)
        if body == "" or body:match("^[#;]") then
            -- a comment keeps a continuation block going; a blank line ends it
            if body == "" then last_key = nil end
        elseif first:match("%s") and current and last_key then
            -- continuation of the previous key's value
            local v = current[last_key]
            current[last_key] = (v == "" and "" or v .. "\n") .. trim(strip_comment(body))
        elseif body:sub(1, 1) == "[" then
            local name = trim(strip_comment(body)):match("^%[%s*(.-)%s*%]$")
            if not name or name == "" then
                return nil, "line " .. n .. ": a section header must look like [name]"
            end
            current = sections[name]
            if not current then
                current = {}
                sections[name] = current
            end
            last_key = nil
        else
            local key, value = body:match("^([^=]-)%s*=%s*(.*)$")
            if not key or key == "" then
                return nil, "line " .. n .. ": expected [section] or key = value"
            end
            if not current then
                return nil, "line " .. n .. ": key = value before any [section]"
            end
            key = key:lower()
            current[key] = trim(strip_comment(value))
            last_key = key
        end
    end
    return sections
end

return _M
