-- Credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
-- AWS_SESSION_TOKEN. Read at every call: two getenv calls cost nothing and
-- a changed environment takes effect at once.
local common = require "kinesis_video_signaling.credentials.common"

local getenv = common.getenv

local _M = { name = "environment" }

-- creds, or nil, why, failed (set when the variables are half there).
function _M.load()
    local id, secret = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
    if not id and not secret then return nil, "AWS_ACCESS_KEY_ID not set" end
    if not id then return nil, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not", true end
    if not secret then return nil, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", true end
    return { access_key_id = id, secret_access_key = secret, session_token = getenv("AWS_SESSION_TOKEN") }
end

return _M
