-- Small caches for answers that stay valid for a while: a Lua table in the
-- client, or an nginx lua_shared_dict shared by every worker.
local response = require "kinesis_video_signaling.response"

local _M = {}

local Memory = {}
Memory.__index = Memory

function Memory:get(key)
    return self.items[key]
end

function Memory:set(key, value)
    self.items[key] = value
end

local SharedDict = {}
SharedDict.__index = SharedDict

function SharedDict:get(key)
    local raw = self.dict:get(key)
    return raw and response.decode(raw) or nil
end

-- ttl: seconds after which nginx may drop the entry.
function SharedDict:set(key, value, ttl)
    self.dict:set(key, response.encode(value), ttl and ttl > 0 and ttl or 0)
end

-- A shared dict when `dict_name` names one (inside nginx), else memory.
function _M.new(dict_name)
    local shared = dict_name and rawget(_G, "ngx") and ngx.shared and ngx.shared[dict_name]
    if shared then return setmetatable({ dict = shared }, SharedDict) end
    return setmetatable({ items = {} }, Memory)
end

return _M
