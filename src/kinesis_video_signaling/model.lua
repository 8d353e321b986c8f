-- The operations and their input members, from the service model
-- (kinesis-video-signaling 2019-12-04), with the ChannelARN pattern widened
-- to every AWS partition (aws, aws-cn, aws-us-gov, ...).
local _M = {}

-- Lua patterns for the model's regular expressions; `rule` is how messages
-- name them.
local ARN = {
    type = "string", min = 1, max = 1024,
    pattern = "^arn:aws[a-zA-Z%-]*:kinesisvideo:[a-z0-9%-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.%-]+/[0-9]+$",
    rule = "arn:aws[a-zA-Z-]*:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+",
}
local CLIENT_ID = {
    type = "string", min = 1, max = 256, pattern = "^[a-zA-Z0-9_.%-]+$", rule = "[a-zA-Z0-9_.-]+",
}
local PAYLOAD = {
    type = "string", min = 1, max = 10000, pattern = "^[a-zA-Z0-9+/=]+$", rule = "[a-zA-Z0-9+/=]+ (base64)",
}

_M.operations = {
    get_ice_server_config = {
        name = "GetIceServerConfig",
        path = "/v1/get-ice-server-config",
        positional = { "ChannelARN" },
        members = {
            ChannelARN = ARN,
            ClientId = CLIENT_ID,
            Service = { type = "string", enum = { "TURN" } },
            Username = CLIENT_ID,
        },
        required = { "ChannelARN" },
        -- Output shape checked for types only: the service may add members,
        -- and real TURN credentials fall outside the model's patterns.
        output = {
            IceServerList = {
                type = "list",
                member = {
                    type = "structure",
                    members = {
                        Uris = { type = "list", member = { type = "string" } },
                        Username = { type = "string" },
                        Password = { type = "string" },
                        Ttl = { type = "number" },
                    },
                },
            },
        },
    },
    send_alexa_offer_to_master = {
        name = "SendAlexaOfferToMaster",
        path = "/v1/send-alexa-offer-to-master",
        positional = { "ChannelARN", "MessagePayload", "SenderClientId" },
        members = {
            ChannelARN = ARN,
            SenderClientId = CLIENT_ID,
            MessagePayload = PAYLOAD,
        },
        required = { "ChannelARN", "SenderClientId", "MessagePayload" },
        output = {
            Answer = { type = "string" },
        },
    },
}

_M.channel_arn = ARN

return _M
