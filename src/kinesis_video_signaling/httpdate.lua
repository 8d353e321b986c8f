-- HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT") to Unix seconds, without the
-- local time zone that os.time would apply.
local _M = {}

local floor = math.floor

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                 Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

function _M.parse(s)
    if type(s) ~= "string" then return nil end
    local d, mon, y, hh, mm, ss = s:match("^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    local m = MONTHS[mon]
    if not m then return nil end
    return days_from_civil(tonumber(y), m, tonumber(d)) * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60
        + tonumber(ss)
end

-- ISO-8601 date-time as AWS writes expirations ("2026-11-24T12:00:00Z",
-- also with fractional seconds or an offset such as "+00:00") to Unix
-- seconds; the fraction is dropped. A time without a zone is refused.
function _M.iso8601(s)
    if type(s) ~= "string" then return nil end
    local y, mo, d, hh, mm, ss, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then return nil end
    rest = rest:gsub("^%.%d+", "")
    local offset
    if rest == "Z" or rest == "z" then
        offset = 0
    else
        local sign, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
        if not sign then return nil end
        offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
    end
    y, mo, d, hh, mm, ss = tonumber(y), tonumber(mo), tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
    if mo < 1 or mo > 12 or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 then return nil end
    return days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss - offset
end

return _M
