-- Sends a base64 SDP offer to the channel's master and prints the answer.
--
--   lua5.4 examples/send_alexa_offer_to_master.lua <channel-arn> <base64-offer> [sender-client-id]
--
-- Credentials, region and endpoint come from the environment, as in
-- get_ice_server_config.lua.
local kvs = require "kinesis_video_signaling"

local arn, payload, sender = arg[1], arg[2], arg[3] or "example-sender"
if not (arn and payload) then
    io.stderr:write("usage: send_alexa_offer_to_master.lua <channel-arn> <base64-offer> [sender-client-id]\n")
    os.exit(2)
end

local out, err = kvs.send_alexa_offer_to_master(arn, payload, sender)
if not out then
    io.stderr:write("SendAlexaOfferToMaster failed: ", tostring(err), "\n")
    os.exit(1)
end

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64_decode(s)
    local bits = s:gsub("[^%w%+/]", ""):gsub(".", function(c)
        local v = ALPHABET:find(c, 1, true) - 1
        local b = {}
        for i = 5, 0, -1 do b[#b + 1] = math.floor(v / 2 ^ i) % 2 end
        return table.concat(b)
    end)
    return (bits:gsub("%d%d%d%d%d%d%d%d", function(byte) return string.char(tonumber(byte, 2)) end)
        :gsub("%d+$", ""))
end

local sdp = base64_decode(out.Answer or "")
print(("Answer: %d characters of base64, %d bytes of SDP:"):format(#(out.Answer or ""), #sdp))
for line in sdp:gmatch("[^\r\n]+") do print("  " .. line) end
