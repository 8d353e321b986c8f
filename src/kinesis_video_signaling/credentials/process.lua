-- credential_process: run the profile's command, read its standard output
-- and take the JSON it prints ({ Version = 1, AccessKeyId, SecretAccessKey,
-- SessionToken, Expiration }). Its standard error goes where ours goes, as
-- with the AWS CLI. The output holds secrets, so messages never quote it.
local cjson = require "cjson.safe"
local common = require "kinesis_video_signaling.credentials.common"

local type, tostring, popen = type, tostring, io.popen

local _M = {}

-- pipe:close() gives the exit status only on Lua 5.2+ (not on LuaJIT built
-- without 5.2 compatibility), so the shell prints it after the output.
local MARK = "kvs-credential-process-exit-status:"
local STATUS_PATTERN = "^(.*)\n" .. MARK:gsub("%p", "%%%0") .. "(%d+)\n$"

local function wrap(command)
    return "(\n" .. command .. "\n)\nprintf '\\n" .. MARK .. "%d\\n' \"$?\""
end

-- Returns creds, or nil, why. now: current Unix seconds.
function _M.run(command, now)
    local pipe, why = popen(wrap(command), "r")
    if not pipe then return nil, "cannot start the command: " .. tostring(why) end
    local out = pipe:read("*a") or ""
    pipe:close()
    local printed, status = out:match(STATUS_PATTERN)
    if not status then return nil, "the command ended without an exit status (killed, or a shell syntax error)" end
    if status ~= "0" then return nil, "the command exited with status " .. status end
    local answer = cjson.decode(printed)
    if type(answer) ~= "table" then return nil, "the command did not print a JSON object" end
    if answer.Version ~= 1 then
        local v = answer.Version
        v = type(v) == "number" and string.format("%.14g", v) or tostring(v)
        return nil, "the command printed Version " .. v .. ", expected 1"
    end
    local creds, bad = common.from_fields(answer, common.STS_NAMES, now)
    if not creds then return nil, bad end
    return creds
end

return _M
