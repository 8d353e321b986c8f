-- No secret in anything a program would print or log: every error message,
-- every string field of an error, tostring(err) and tostring(client), across
-- the fault and bad-input cases, and the output of the example scripts. The
-- secrets: the secret access key, the session token and the TURN passwords
-- the service hands out (fixture get_ice_server_config_ok).
local kvs = require "kinesis_video_signaling"
local helpers = require "spec.support.helpers"
local cjson = require "cjson"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
local PAYLOAD = helpers.PAYLOAD
local SECRET = helpers.SECRET_KEY
local TOKEN = helpers.SESSION_TOKEN
local CREDS = helpers.creds(TOKEN)
local ICE = helpers.ICE_PATH
local OFFER = helpers.OFFER_PATH

-- The TURN passwords, read from the fixture the server sends.
local TURN_PASSWORDS = {}
do
    local f = assert(io.open(replay.fixtures_dir .. "/get_ice_server_config_ok.json", "rb"))
    local fixture = cjson.decode(f:read("a"))
    f:close()
    for _, s in ipairs(cjson.decode(fixture.body).IceServerList) do
        TURN_PASSWORDS[#TURN_PASSWORDS + 1] = s.Password
    end
    assert(#TURN_PASSWORDS == 2)
end

local function url_encode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Each secret in the forms it could leak in: as is, URL-encoded, JSON with
-- escaped slashes, and a 16-byte piece from its middle (a truncated copy).
local FORMS = {}
for _, s in ipairs{ SECRET, TOKEN, TURN_PASSWORDS[1], TURN_PASSWORDS[2] } do
    for _, form in ipairs{ s, url_encode(s), (s:gsub("/", "\\/")), s:sub(9, 24) } do
        FORMS[#FORMS + 1] = form
    end
end

local checked -- how many strings were inspected, so a spec cannot pass by inspecting none

local function assert_clean(s, where)
    assert.is_string(s, where)
    checked = checked + 1
    for _, form in ipairs(FORMS) do
        assert.is_nil(s:find(form, 1, true), where .. " holds a secret: " .. s)
    end
end

-- Every string reachable from an error, and its tostring.
local function assert_err_clean(err, where)
    assert.is_table(err, where .. ": expected an error")
    assert_clean(tostring(err), where .. " tostring(err)")
    local seen = {}
    local function walk(v, path)
        if type(v) == "string" then
            assert_clean(v, path)
        elseif type(v) == "table" and not seen[v] then
            seen[v] = true
            for k, x in pairs(v) do
                walk(k, path .. " key")
                walk(x, path .. "." .. tostring(k))
            end
        end
    end
    walk(err, where)
end

describe("secrets", function()
    local srv

    setup(function() srv = replay.start{ lifetime = 300 } end)
    teardown(function() srv:stop() end)
    before_each(function()
        srv:reset()
        checked = 0
    end)

    local function client(extra)
        return helpers.client({ endpoint = srv.url, region = "us-west-2", credentials = CREDS,
                                retry_base_delay = 0.01, timeout = 1, connect_timeout = 1, max_attempts = 1 }, extra)
    end

    -- A service that quotes the request back, as AWS does in a signature
    -- mismatch message, here with every header it was sent.
    local ECHO = '{"message":"request was token={{header:x-amz-security-token}} auth={{header:authorization}}"}'
    local FAULTS = {
        "signature_mismatch_403", "signature_expired_403", "error_503", "error_500", "html_502",
        "truncated_json_200", "empty_200", "body_over_cap", "wrong_types_200", "ttl_string_200",
        "huge_header_200", "error_type_in_body_only", "error_code_in_body_only", "error_access_denied",
        "throttling_429",
        { fixture = "error_invalid_argument", body = ECHO },
        { fixture = "error_503", body = ECHO },
        { status = 400, headers = { { "Content-Type", "application/json" } }, body = ECHO },
        { fixture = "get_ice_server_config_ok", fault = "close_mid_headers" },
        { fixture = "get_ice_server_config_ok", fault = "close_mid_body" },
        { fixture = "get_ice_server_config_ok", fault = "close_before_headers" },
        { fixture = "get_ice_server_config_ok", fault = "stall_mid_body", stall = 5 },
        -- a TURN password where a number belongs
        { fixture = "get_ice_server_config_ok",
          body = '{"IceServerList":[{"Password":"x","Ttl":"' .. TURN_PASSWORDS[1] .. '","Uris":[]}]}' },
        { raw = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"Password\":\"" .. TURN_PASSWORDS[2] },
    }

    for i, f in ipairs(FAULTS) do
        local name = type(f) == "string" and f or (f.fixture or "inline") .. " " .. (f.fault or f.raw and "raw"
            or f.body and "echo" or "") .. " #" .. i
        it("keeps them out of the error for " .. name, function()
            local resp = type(f) == "string" and { fixture = f } or f
            srv:script{ [ICE] = { resp }, [OFFER] = { resp } }
            local c = client{ timeout = 0.5 }
            local out, err = c:get_ice_server_config(ARN)
            assert.is_nil(out)
            assert_err_clean(err, name)
            -- (an ICE answer is a valid, if odd, offer answer: it may succeed)
            out, err = c:send_alexa_offer_to_master(ARN, PAYLOAD, "sender-1")
            if not out then assert_err_clean(err, name .. " (offer)") end
            assert_clean(tostring(c), "tostring(client)")
            assert.is_true(checked >= 4)
        end)
    end

    it("keeps them out of tostring(client) once the client holds credentials and TURN passwords", function()
        srv:script({}, { fixture = "get_ice_server_config_ok" })
        local c = client()
        assert_clean(tostring(c), "tostring(client) before any call")
        local out = assert(c:get_ice_server_config(ARN))
        assert.equal(TURN_PASSWORDS[1], out.IceServerList[1].Password) -- they did arrive
        assert_clean(tostring(c), "tostring(client) after a call")
        if c.ice_servers then
            assert(c:ice_servers(ARN))
            assert_clean(tostring(c), "tostring(client) with cached ICE servers")
        end
        -- a later failure does not carry the earlier answer
        srv:reset()
        srv:script({}, { fixture = "error_503" })
        local _, err = c:get_ice_server_config(ARN)
        assert_err_clean(err, "error after a success")
    end)

    it("keeps them out of network errors", function()
        for _, endpoint in ipairs{ "http://127.0.0.1:1", "http://kvs-test.invalid:1" } do
            local c = client{ endpoint = endpoint }
            local _, err = c:get_ice_server_config(ARN)
            assert_err_clean(err, endpoint)
            assert_clean(tostring(c), "tostring(client)")
        end
    end)

    it("keeps them out of bad-input errors of the operations", function()
        srv:script({}, { fixture = "get_ice_server_config_ok" })
        local c = client()
        local cases = {
            { "get_ice_server_config", { ChannelARN = SECRET } },
            { "get_ice_server_config", { ChannelARN = ARN, ClientId = TOKEN } },
            { "get_ice_server_config", { ChannelARN = ARN, Username = SECRET .. "\0" } },
            { "send_alexa_offer_to_master", { ChannelARN = ARN, SenderClientId = TOKEN, MessagePayload = PAYLOAD } },
            { "send_alexa_offer_to_master",
              { ChannelARN = ARN, SenderClientId = "s", MessagePayload = SECRET .. "!" } },
        }
        for i, case in ipairs(cases) do
            local out, err = c[case[1]](c, case[2])
            assert.is_nil(out)
            assert.equal("ParamValidationError", err.code)
            -- values that fail validation are not quoted back: not even a
            -- secret passed in the wrong member shows
            assert_err_clean(err, "bad input #" .. i)
        end
        assert.equal(0, #srv:requests())
    end)

    it("keeps them out of credentials errors", function()
        for i, creds in ipairs{
            { access_key_id = "AKID", secret_access_key = SECRET, session_token = 42 },
            { access_key_id = "", secret_access_key = SECRET, session_token = TOKEN },
            function() error("cannot load " .. SECRET) end,
        } do
            local c = client{ credentials = creds }
            local out, err = c:get_ice_server_config(ARN)
            assert.is_nil(out)
            assert_err_clean(err, "credentials #" .. i)
            assert_clean(tostring(c), "tostring(client) with credentials #" .. i)
        end
    end)

    it("keeps them out of kvs.sign and kvs.presign errors", function()
        local base = { method = "POST", url = "https://example.com/", region = "us-west-2", service = "kinesisvideo",
                       credentials = CREDS, time = 1440938160 }
        local function with(k, v)
            local p = {}
            for key, val in pairs(base) do p[key] = val end
            p[k] = v
            return p
        end
        for i, p in ipairs{
            with("headers", { ["X-A"] = "a\r\nb" }),
            with("headers", { ["X-A"] = 1 }),
            with("url", "nope"),
            with("method", ""),
            with("region", ""),
            with("time", -1),
            with("expires", 0),
            with("credentials", { access_key_id = "AKID", secret_access_key = SECRET, session_token = TOKEN .. "\n" }),
            with("credentials", { access_key_id = "AK ID", secret_access_key = SECRET, session_token = TOKEN }),
            with("credentials", { access_key_id = "AKID", secret_access_key = SECRET .. "\0" }),
        } do
            for _, fn in ipairs{ "sign", "presign" } do
                local out, err = kvs[fn](p)
                if i ~= 7 or fn == "presign" then
                    assert.is_nil(out, fn .. " #" .. i)
                    assert_err_clean(err, fn .. " #" .. i)
                end
            end
        end
    end)

    describe("example scripts", function()
        local LUA = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

        local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

        -- Runs an example with the environment pointing it at the replay
        -- server; returns its stdout and stderr together, and its success.
        local function run(script, args, env)
            local vars = {
                AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING = srv.url, AWS_REGION = "us-west-2",
                AWS_ACCESS_KEY_ID = CREDS.access_key_id, AWS_SECRET_ACCESS_KEY = SECRET, AWS_SESSION_TOKEN = TOKEN,
                AWS_EC2_METADATA_DISABLED = "true", AWS_CONFIG_FILE = "/nonexistent", AWS_SHARED_CREDENTIALS_FILE =
                "/nonexistent",
            }
            for k, v in pairs(env or {}) do vars[k] = v end
            local parts = { "env -u AWS_PROFILE" }
            for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
            -- the exit status travels in the output: LuaJIT's popen close
            -- does not report it
            parts[#parts + 1] = LUA .. " " .. script .. " " .. args .. " 2>&1; echo \"EXIT $?\""
            local p = assert(io.popen(table.concat(parts, " ")))
            local out = p:read("a")
            p:close()
            local text, status = out:match("^(.*)EXIT (%d+)%s*$")
            assert(status, "no exit status in: " .. out)
            return text, status == "0"
        end

        local function exists(path)
            local f = io.open(path, "rb")
            if f then f:close() end
            return f ~= nil
        end

        it("print no secret when the calls succeed", function()
            if not exists("examples/get_ice_server_config.lua") then
                return pending("examples/get_ice_server_config.lua is not there")
            end
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } },
                        [OFFER] = { { fixture = "send_alexa_offer_to_master_ok" } } }
            local out, ok = run("examples/get_ice_server_config.lua", ARN .. " viewer-1")
            assert.is_true(ok, out)
            assert.matches("turns?:", out) -- it did print the servers
            assert_clean(out, "get_ice_server_config.lua output")
            out, ok = run("examples/send_alexa_offer_to_master.lua", ARN .. " " .. PAYLOAD .. " demo-sender")
            assert.is_true(ok, out)
            assert_clean(out, "send_alexa_offer_to_master.lua output")
            assert.equal(2, #srv:requests())
        end)

        it("print no secret when the service quotes the request back in an error", function()
            if not exists("examples/get_ice_server_config.lua") then
                return pending("examples/get_ice_server_config.lua is not there")
            end
            srv:script({}, { fixture = "error_invalid_argument", body = ECHO })
            for _, ex in ipairs{ { "examples/get_ice_server_config.lua", ARN },
                                 { "examples/send_alexa_offer_to_master.lua", ARN .. " " .. PAYLOAD } } do
                local out, ok = run(ex[1], ex[2])
                assert.is_falsy(ok)
                assert.matches("InvalidArgumentException", out)
                assert_clean(out, ex[1] .. " error output")
            end
            assert.is_true(#srv:requests() >= 2)
        end)
    end)
end)
