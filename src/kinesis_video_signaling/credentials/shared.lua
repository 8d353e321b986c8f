-- The shared files the AWS CLI writes: AWS_SHARED_CREDENTIALS_FILE (default
-- ~/.aws/credentials, sections [name]) and AWS_CONFIG_FILE (default
-- ~/.aws/config, sections [profile name] and [default]). A profile's keys
-- come from both, the credentials file winning. It yields static keys or
-- runs credential_process, and gives the profile's region.
local common = require "kinesis_video_signaling.credentials.common"
local ini = require "kinesis_video_signaling.credentials.ini"
local process = require "kinesis_video_signaling.credentials.process"

local pairs, concat = pairs, table.concat
local getenv = common.getenv

local _M = { name = "shared files" }

local function expand(path)
    if path:sub(1, 2) == "~/" then
        local home = getenv("HOME")
        if not home then return nil end
        return home .. path:sub(2)
    end
    return path
end

-- Paths of the credentials and config files (nil when HOME is unset and
-- the variable does not name one).
function _M.paths()
    return expand(getenv("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"),
        expand(getenv("AWS_CONFIG_FILE") or "~/.aws/config")
end

-- The profile name, and whether someone chose it (option or AWS_PROFILE).
function _M.profile_name(option)
    if common.nonempty(option) then return option, true end
    local env = getenv("AWS_PROFILE")
    if env then return env, true end
    return "default", false
end

-- Sections of one file: sections, or nil when it does not exist, or
-- nil, why when it cannot be read or parsed.
local function read(path)
    if not path then return nil end
    local text, why, missing = common.read_file(path)
    if not text then
        if missing then return nil end
        return nil, why
    end
    local sections, bad = ini.parse(text)
    if not sections then return nil, path .. " " .. bad end
    return sections
end

-- Profiles of the config file by name: [profile name], and [default]
-- (which [profile default] overrides).
local function config_profiles(sections)
    local out = {}
    if sections.default then out.default = sections.default end
    for section, keys in pairs(sections) do
        local name = section:match("^profile%s+(%S.*)$")
        if name then
            if name == "default" and out.default then
                local merged = {}
                for k, v in pairs(out.default) do merged[k] = v end
                for k, v in pairs(keys) do merged[k] = v end
                keys = merged
            end
            out[name] = keys
        end
    end
    return out
end

-- The profile's keys from both files: keys, or nil, why, failed (failed is
-- set for unreadable or malformed files).
function _M.profile(name)
    local cred_path, config_path = _M.paths()
    local creds_file, why = read(cred_path)
    if why then return nil, why, true end
    local config_file
    config_file, why = read(config_path)
    if why then return nil, why, true end
    local from_config = config_file and config_profiles(config_file)[name]
    local from_creds = creds_file and creds_file[name]
    if not from_config and not from_creds then
        local where = {}
        for _, p in ipairs{ { cred_path, creds_file }, { config_path, config_file } } do
            if p[1] then where[#where + 1] = p[1] .. (p[2] and "" or " (no such file)") end
        end
        if #where == 0 then return nil, "profile " .. name .. " not found (HOME is not set)" end
        return nil, "profile " .. name .. " not found in " .. concat(where, ", ")
    end
    local keys = {}
    for k, v in pairs(from_config or {}) do keys[k] = v end
    for k, v in pairs(from_creds or {}) do keys[k] = v end
    return keys
end

-- The region of the chosen profile, or nil.
function _M.region(option)
    local keys = _M.profile((_M.profile_name(option)))
    return keys and common.nonempty(keys.region) and keys.region or nil
end

-- Settings that mean another way to get credentials, which this module
-- does not implement; a profile using them fails rather than silently
-- falling through to a different identity.
local UNSUPPORTED = { "role_arn", "credential_source", "sso_session", "sso_start_url" }

-- ctx: profile (the client option), clock. Returns creds, or nil, why,
-- failed.
function _M.load(ctx)
    local name, chosen = _M.profile_name(ctx.profile)
    local keys, why, failed = _M.profile(name)
    if not keys then return nil, why, failed or chosen end
    local prefix = "profile " .. name .. ": "
    -- AWS SDKs rank these above the profile's own keys
    for _, k in ipairs(UNSUPPORTED) do
        if common.nonempty(keys[k]) then
            return nil, prefix .. "uses " .. k .. ", which this module does not support (give keys, "
                .. "credential_process, or credentials exported with `aws configure export-credentials`)", true
        end
    end
    local id, secret = keys.aws_access_key_id, keys.aws_secret_access_key
    if common.nonempty(id) or common.nonempty(secret) then
        if not common.nonempty(id) then
            return nil, prefix .. "aws_secret_access_key without aws_access_key_id", true
        end
        if not common.nonempty(secret) then
            return nil, prefix .. "aws_access_key_id without aws_secret_access_key", true
        end
        return { access_key_id = id, secret_access_key = secret,
                 session_token = common.nonempty(keys.aws_session_token) and keys.aws_session_token or nil }
    end
    if common.nonempty(keys.credential_process) then
        local creds, bad = process.run(keys.credential_process, ctx.clock())
        if not creds then return nil, prefix .. "credential_process: " .. bad, true end
        return creds
    end
    return nil, prefix .. "no aws_access_key_id or credential_process"
end

return _M
