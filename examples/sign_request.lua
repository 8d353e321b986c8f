-- Signs a sample GetIceServerConfig request with the documentation's example
-- key and prints what would be sent: the signer on its own, no network.
local kvs = require "kinesis_video_signaling"

local signed = assert(kvs.sign{
    method = "POST",
    url = "https://r-1234abcd.kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config",
    headers = { ["Content-Type"] = "application/json" },
    body = '{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123"}',
    region = "us-west-2", service = "kinesisvideo",
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    time = 1440938160,
})
local names = {}
for name in pairs(signed.headers) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do print(name .. ": " .. signed.headers[name]) end
