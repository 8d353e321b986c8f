-- The credential chain: each source against real local servers (the replay
-- server answers as STS, the container agent and IMDS) and real temporary
-- files, their order, expiry and refresh under a controlled clock, failures
-- that must read clearly and never show a secret.
local kvs = require "kinesis_video_signaling"
local cjson = require "cjson"
local core = require "kinesis_video_signaling.core"
local credentials = require "kinesis_video_signaling.credentials"
local container = require "kinesis_video_signaling.credentials.container"
local httpdate = require "kinesis_video_signaling.httpdate"
local imds = require "kinesis_video_signaling.credentials.imds"
local ini = require "kinesis_video_signaling.credentials.ini"
local transport = require "kinesis_video_signaling.transport"
local web_identity = require "kinesis_video_signaling.credentials.web_identity"
local xml = require "kinesis_video_signaling.credentials.xml"
local helpers = require "spec.support.helpers"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
local ICE = helpers.ICE_PATH
local EXPIRES = 1795521600 -- 2026-11-24T12:00:00Z, when every fixture's credentials expire

local FILE_ID, FILE_SECRET = "AKIDFILEEXAMPLE00001", "fileSecretKeyExample/K7MDENG+bPxRfiCYEXAMPLE"
local FILE_TOKEN = "FwoGZXIvYXdzEFileSessionTokenExample//////////wEaDEXAMPLE"
local ENV_ID, ENV_SECRET = "AKIDENVEXAMPLE000001", "envSecretKeyExample/K7MDENG+bPxRfiCYEXAMPLE"
local WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlRXhhbXBsZQ"
local STS = { id = "ASIASTSEXAMPLE000001", secret = "stsSecretKeyExample/K7MDENG+bPxRfiCYEXAMPLE",
              token = "IQoJb3JpZ2luX2VjEStsSessionTokenExample+//////////wEaCXVzLXdlc3QtMiJHMEUCIQ==" }
local ECS = { id = "ASIAECSEXAMPLE000001", secret = "ecsSecretKeyExample/K7MDENG+bPxRfiCYEXAMPLE",
              token = "IQoJb3JpZ2luX2VjEEcsSessionTokenExample//////////wEaCXVzLXdlc3QtMiJHMEUCIQ==" }
local IMDS = { id = "ASIAIMDSEXAMPLE00001", secret = "imdsSecretKeyExample/K7MDENG+bPxRfiCYEXAMPLE",
               token = "IQoJb3JpZ2luX2VjEImdsSessionTokenExample//////////wEaCXVzLXdlc3QtMiJHMEUCIQ==" }
local IMDS_TOKEN = "AQAEAImdsSessionTokenExample0123456789abcdef=="
local ROLE_PATH = "/latest/meta-data/iam/security-credentials/"

-- Every variable any source reads; each spec starts with all of them unset
-- except the isolation ones below.
local AWS_VARS = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING", "AWS_ENDPOINT_URL_KINESIS_VIDEO",
}

local function mkdtemp()
    local p = assert(io.popen("mktemp -d /tmp/kvs-creds-spec.XXXXXX"))
    local dir = p:read("*l")
    p:close()
    assert(dir and dir:match("^/tmp/kvs%-creds%-spec%.%w+$"), "mktemp failed")
    return dir
end

describe("credentials", function()
    local srv, dir, send
    local home, cred_file, config_file

    setup(function()
        srv = replay.start{ lifetime = 300 }
        dir = mkdtemp()
        send = assert(transport.curl{ verify_tls = true, timeout = 3, connect_timeout = 1 })
    end)
    teardown(function()
        srv:stop()
        os.execute("rm -rf '" .. dir .. "'")
    end)

    local case = 0
    before_each(function()
        srv:reset()
        -- a fresh HOME per case, so no file leaks from one case into the next
        case = case + 1
        home = dir .. "/home" .. case
        assert(os.execute("mkdir -p '" .. home .. "/.aws'"))
        cred_file, config_file = home .. "/.aws/credentials", home .. "/.aws/config"
    end)

    -- Runs fn with the machine's AWS settings hidden: HOME is the case's
    -- directory, IMDS is off, every other AWS_* variable is unset; extra
    -- sets or (false) unsets more.
    local function isolated(extra, fn)
        local vars = { HOME = home, AWS_EC2_METADATA_DISABLED = "true" }
        for _, name in ipairs(AWS_VARS) do if vars[name] == nil then vars[name] = false end end
        for k, v in pairs(extra or {}) do vars[k] = v end
        helpers.with_env(vars, fn)
    end

    local function provider(opts)
        opts = opts or {}
        if opts.send == nil then opts.send = send end
        return credentials.new(opts)
    end

    local function script(routes)
        local out = {}
        for path, list in pairs(routes) do
            out[path] = {}
            for i, f in ipairs(list) do out[path][i] = type(f) == "string" and { fixture = f } or f end
        end
        srv:script(out)
    end

    local function targets()
        local out = {}
        for i, r in ipairs(srv:requests()) do out[i] = r.method .. " " .. r.target end
        return out
    end

    local function assert_no_secret(s, ...)
        for _, secret in ipairs{ ... } do
            assert.is_nil(tostring(s):find(secret, 1, true), "a secret appears in: " .. tostring(s))
        end
    end

    local function write_file_creds(extra)
        helpers.write_file(cred_file, "[default]\naws_access_key_id = " .. FILE_ID .. "\naws_secret_access_key = "
            .. FILE_SECRET .. "\naws_session_token = " .. FILE_TOKEN .. "\n" .. (extra or ""))
    end

    local function script_imds()
        script{
            ["PUT /latest/api/token"] = { "imds_token" },
            ["GET " .. ROLE_PATH] = { "imds_role" },
            ["GET " .. ROLE_PATH .. "kvs-instance-role"] = { "imds_credentials" },
        }
    end

    local function clock_at(t)
        local c = { t = t }
        return c, function() return c.t end
    end

    describe("shared file parser", function()
        it("reads sections, comments, whitespace, inline comments, CRLF and sub-properties", function()
            local text = table.concat({
                "# a comment", "; another", "", "[default]", "  aws_access_key_id=AKID1  ",
                "Region = us-west-2 # trailing comment", "[ profile dev ] ; comment", "s3 =",
                "  max_concurrent_requests = 10", "  ; comment inside", "  addressing_style = path",
                "output=json;not-a-comment", "[default]", "aws_secret_access_key = s#1", "",
            }, "\r\n")
            local t = assert(ini.parse(text))
            assert.same({ aws_access_key_id = "AKID1", region = "us-west-2", aws_secret_access_key = "s#1" },
                t.default)
            assert.same({ s3 = "max_concurrent_requests = 10\naddressing_style = path",
                          output = "json;not-a-comment" }, t["profile dev"])
        end)

        it("refuses malformed lines with their number only", function()
            local cases = {
                { "[default]\naws_access_key_id\n", "line 2: expected %[section%] or key = value" },
                { "aws_access_key_id = x\n[default]\n", "line 1: key = value before any %[section%]" },
                { "[default]\n[broken\n", "line 2: a section header must look like %[name%]" },
                { "[]\n", "line 1: a section header" },
                { "[default]\n= value\n", "line 2: expected" },
            }
            for _, c in ipairs(cases) do
                local t, why = ini.parse(c[1])
                assert.is_nil(t)
                assert.matches(c[2], why)
            end
            local _, why = ini.parse("[default]\nsecretValue123 with no equals\n")
            assert_no_secret(why, "secretValue123")
        end)
    end)

    describe("expiration times", function()
        it("turns ISO-8601 into Unix seconds, whatever the local time zone", function()
            helpers.with_env({ TZ = "America/Los_Angeles" }, function()
                assert.equal(EXPIRES, httpdate.iso8601("2026-11-24T12:00:00Z"))
                assert.equal(EXPIRES, httpdate.iso8601("2026-11-24T12:00:00.123456Z"))
                assert.equal(EXPIRES, httpdate.iso8601("2026-11-24T12:00:00+00:00"))
                assert.equal(EXPIRES, httpdate.iso8601("2026-11-24T07:00:00-05:00"))
                assert.equal(EXPIRES, httpdate.iso8601("2026-11-24T13:30:00+0130"))
                assert.equal(0, httpdate.iso8601("1970-01-01T00:00:00Z"))
                assert.equal(951782400, httpdate.iso8601("2000-02-29T00:00:00Z"))
            end)
            for _, bad in ipairs{ "2026-11-24T12:00:00", "2026-13-01T00:00:00Z", "2026-11-24 12:00Z", "soon", "",
                                  "2026-11-24T25:00:00Z" } do
                assert.is_nil(httpdate.iso8601(bad), bad)
            end
            assert.is_nil(httpdate.iso8601(42))
        end)

        it("decodes XML entities and character references once", function()
            assert.equal("a<b>&\"'+/é€😀", xml.unescape("a&lt;b&gt;&amp;&quot;&apos;&#43;&#x2F;&#233;&#x20AC;&#128512;"))
            assert.equal("&lt;", xml.unescape("&amp;lt;"))
            assert.equal("&bogus; &#0; &#xD800;", xml.unescape("&bogus; &#0; &#xD800;"))
        end)
    end)

    describe("explicit and environment", function()
        it("takes a table, and checks its shape", function()
            isolated({}, function()
                local c = assert(provider{ credentials = { access_key_id = "AKID", secret_access_key = "S3CRET",
                                                           session_token = "" } }:get())
                assert.same({ "AKID", "S3CRET", nil, "the credentials option" },
                    { c.access_key_id, c.secret_access_key, c.session_token, c.source })
                local _, err = provider{ credentials = { access_key_id = "AKID" } }:get()
                assert.equal("CredentialsError", err.code)
                assert.matches("the credentials option: the table has no secret_access_key", err.message)
            end)
        end)

        it("reads the environment at every call", function()
            isolated({ AWS_ACCESS_KEY_ID = ENV_ID, AWS_SECRET_ACCESS_KEY = ENV_SECRET, AWS_SESSION_TOKEN = "envtok" },
                function()
                    local p = provider()
                    local c = assert(p:get())
                    assert.same({ ENV_ID, ENV_SECRET, "envtok", "environment" },
                        { c.access_key_id, c.secret_access_key, c.session_token, c.source })
                    core.setenv("AWS_ACCESS_KEY_ID", "AKIDROTATED")
                    core.setenv("AWS_SESSION_TOKEN", nil)
                    c = assert(p:get())
                    assert.equal("AKIDROTATED", c.access_key_id)
                    assert.is_nil(c.session_token)
                end)
        end)

        it("refuses half an environment instead of looking further", function()
            write_file_creds()
            isolated({ AWS_ACCESS_KEY_ID = ENV_ID }, function()
                local c, err = provider():get()
                assert.is_nil(c)
                assert.equal("CredentialsError", err.code)
                assert.matches("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", err.message)
            end)
        end)
    end)

    describe("order of precedence", function()
        it("takes the first source that yields, and asks none after it", function()
            write_file_creds()
            local token_file = home .. "/web-token"
            helpers.write_file(token_file, WEB_TOKEN)
            local all = {
                AWS_ACCESS_KEY_ID = ENV_ID, AWS_SECRET_ACCESS_KEY = ENV_SECRET,
                AWS_WEB_IDENTITY_TOKEN_FILE = token_file, AWS_ROLE_ARN = "arn:aws:iam::123456789012:role/kvs-pod-role",
                AWS_ENDPOINT_URL_STS = srv.url, AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container-creds",
                AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url,
            }
            local _, clock = clock_at(EXPIRES - 3600)
            local steps = {
                { "environment", ENV_ID, {} },
                { "web identity", STS.id, { "POST /" } },
                { "shared files", FILE_ID, {} },
                { "container", ECS.id, { "GET /container-creds" } },
                { "instance metadata", IMDS.id,
                  { "PUT /latest/api/token", "GET " .. ROLE_PATH, "GET " .. ROLE_PATH .. "kvs-instance-role" } },
            }
            for i, step in ipairs(steps) do
                srv:reset()
                script{
                    ["POST /"] = { "sts_assume_role_with_web_identity_ok" },
                    ["GET /container-creds"] = { "ecs_credentials" },
                    ["PUT /latest/api/token"] = { "imds_token" },
                    ["GET " .. ROLE_PATH] = { "imds_role" },
                    ["GET " .. ROLE_PATH .. "kvs-instance-role"] = { "imds_credentials" },
                }
                isolated(all, function()
                    local c = assert(provider{ clock = clock }:get())
                    assert.equal(step[1], c.source)
                    assert.equal(step[2], c.access_key_id)
                end)
                assert.same(step[3], targets(), "step " .. i)
                -- take this source away for the next step
                if i == 1 then all.AWS_ACCESS_KEY_ID, all.AWS_SECRET_ACCESS_KEY = false, false end
                if i == 2 then all.AWS_WEB_IDENTITY_TOKEN_FILE = false end
                if i == 3 then os.remove(cred_file) end
                if i == 4 then all.AWS_CONTAINER_CREDENTIALS_FULL_URI = false end
            end
        end)

        it("puts explicit credentials, table or function, before the environment", function()
            isolated({ AWS_ACCESS_KEY_ID = ENV_ID, AWS_SECRET_ACCESS_KEY = ENV_SECRET }, function()
                local c = assert(provider{ credentials = { access_key_id = "AKIDTABLE", secret_access_key = "x" } }
                    :get())
                assert.equal("AKIDTABLE", c.access_key_id)
                c = assert(provider{ credentials = function()
                    return { access_key_id = "AKIDFUNC", secret_access_key = "y" }
                end }:get())
                assert.equal("AKIDFUNC", c.access_key_id)
                assert.equal("the credentials function", c.source)
            end)
        end)
    end)

    describe("shared files", function()
        it("reads the default profile from ~/.aws/credentials", function()
            write_file_creds()
            isolated({}, function()
                local c = assert(provider():get())
                assert.same({ FILE_ID, FILE_SECRET, FILE_TOKEN, "shared files" },
                    { c.access_key_id, c.secret_access_key, c.session_token, c.source })
            end)
        end)

        it("chooses the profile: the option, else AWS_PROFILE, else default", function()
            helpers.write_file(cred_file, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = a\n"
                .. "[env-profile]\naws_access_key_id = AKIDENVPROFILE\naws_secret_access_key = b\n")
            helpers.write_file(config_file, "[profile option-profile]\naws_access_key_id = AKIDOPTION\n"
                .. "aws_secret_access_key = c\n[option-profile]\naws_access_key_id = AKIDIGNORED\n")
            isolated({}, function()
                assert.equal("AKIDDEFAULT", assert(provider():get()).access_key_id)
            end)
            isolated({ AWS_PROFILE = "env-profile" }, function()
                assert.equal("AKIDENVPROFILE", assert(provider():get()).access_key_id)
                assert.equal("AKIDOPTION", assert(provider{ profile = "option-profile" }:get()).access_key_id)
            end)
        end)

        it("merges a profile from both files, the credentials file winning, and gives its region", function()
            helpers.write_file(config_file, "[default]\nregion = eu-west-1\n\n[profile dev]\nregion = ap-south-1\n"
                .. "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = config-secret\n")
            helpers.write_file(cred_file, "[dev]\naws_access_key_id = AKIDCREDS\n")
            isolated({ AWS_PROFILE = "dev" }, function()
                local p = provider()
                local c = assert(p:get())
                assert.same({ "AKIDCREDS", "config-secret" }, { c.access_key_id, c.secret_access_key })
                assert.equal("ap-south-1", p:region())
                assert.equal("eu-west-1", provider{ profile = "default" }:region())
                assert.is_nil(provider{ profile = "nope" }:region())
            end)
        end)

        it("honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, and [profile default]", function()
            local creds_path, config_path = dir .. "/elsewhere-creds-" .. case, dir .. "/elsewhere-config-" .. case
            helpers.write_file(config_path, "[default]\nregion = us-east-1\n[profile default]\nregion = us-east-2\n")
            helpers.write_file(creds_path, "[default]\naws_access_key_id = AKIDELSEWHERE\naws_secret_access_key = z\n")
            write_file_creds() -- in HOME, which the variables override
            isolated({ AWS_SHARED_CREDENTIALS_FILE = creds_path, AWS_CONFIG_FILE = config_path }, function()
                local p = provider()
                assert.equal("AKIDELSEWHERE", assert(p:get()).access_key_id)
                assert.equal("us-east-2", p:region())
            end)
        end)

        it("fails on a chosen profile that does not exist, without looking further", function()
            write_file_creds()
            script{ ["PUT /latest/api/token"] = { "imds_token" } }
            isolated({ AWS_PROFILE = "missing", AWS_EC2_METADATA_DISABLED = false,
                       AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url }, function()
                local c, err = provider():get()
                assert.is_nil(c)
                assert.equal("CredentialsError", err.code)
                assert.matches("could not get credentials from shared files: profile missing not found in "
                    .. cred_file:gsub("%p", "%%%0") .. ", " .. config_file:gsub("%p", "%%%0") .. " %(no such file%)",
                    err.message)
            end)
            assert.same({}, targets())
        end)

        it("gives a clear error for malformed files and half profiles, never their contents", function()
            local cases = {
                { "[default]\naws_access_key_id = AKIDX\nthis line has " .. FILE_SECRET .. "\n",
                  "shared files: " .. cred_file:gsub("%p", "%%%0") .. " line 3: expected" },
                { "[default]\naws_access_key_id = AKIDX\n", "profile default: aws_access_key_id without "
                  .. "aws_secret_access_key" },
                { "[default]\naws_secret_access_key = " .. FILE_SECRET .. "\n",
                  "profile default: aws_secret_access_key without aws_access_key_id" },
                { "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n",
                  "profile default: uses role_arn, which this module does not support" },
                { "[default]\nsso_session = corp\n", "uses sso_session" },
            }
            for _, c in ipairs(cases) do
                helpers.write_file(cred_file, c[1])
                isolated({}, function()
                    local creds, err = provider():get()
                    assert.is_nil(creds)
                    assert.equal("CredentialsError", err.code)
                    assert.matches(c[2], err.message)
                    assert_no_secret(tostring(err), FILE_SECRET)
                end)
            end
        end)

        it("goes on to the next source when the default profile has no credentials", function()
            helpers.write_file(config_file, "[default]\nregion = us-west-2\n")
            isolated({}, function()
                local _, err = provider():get()
                assert.matches("shared files %(profile default: no aws_access_key_id or credential_process%); "
                    .. "container %(", err.message)
            end)
        end)
    end)

    describe("credential_process", function()
        local function process_script(json, status, counter)
            local path = home .. "/process.sh"
            local json_path = home .. "/process.json"
            helpers.write_file(json_path, json)
            helpers.write_file(path, (counter and ("echo run >> '" .. counter .. "'\n") or "")
                .. "cat '" .. json_path .. "'\nexit " .. (status or 0) .. "\n")
            return "sh " .. path
        end

        local function answer(fields)
            local a = { Version = 1, AccessKeyId = "ASIAPROCESSEXAMPLE01", SecretAccessKey = "processSecretExample",
                        SessionToken = "processTokenExample", Expiration = "2026-11-24T12:00:00Z" }
            for k, v in pairs(fields or {}) do
                if v == false then a[k] = nil else a[k] = v end
            end
            return cjson.encode(a)
        end

        local function runs(counter)
            local s = helpers.read_file(counter) or ""
            local n = 0
            for _ in s:gmatch("run") do n = n + 1 end
            return n
        end

        it("runs the profile's command and caches its credentials until they near expiry", function()
            local counter = home .. "/runs"
            helpers.write_file(config_file, "[profile proc]\ncredential_process = "
                .. process_script(answer(), 0, counter) .. "\n")
            local now, clock = clock_at(EXPIRES - 3600)
            isolated({}, function()
                local p = provider{ profile = "proc", clock = clock }
                local c = assert(p:get())
                assert.same({ "ASIAPROCESSEXAMPLE01", "processSecretExample", "processTokenExample", EXPIRES,
                              "shared files" },
                    { c.access_key_id, c.secret_access_key, c.session_token, c.expiration, c.source })
                now.t = EXPIRES - 301
                assert(p:get())
                assert.equal(1, runs(counter))
                now.t = EXPIRES - 299
                assert(p:get())
                assert.equal(2, runs(counter))
            end)
        end)

        it("takes credentials without Expiration as static", function()
            helpers.write_file(cred_file, "[default]\ncredential_process = "
                .. process_script(answer{ Expiration = false, SessionToken = false }) .. "\n")
            isolated({}, function()
                local c = assert(provider():get())
                assert.is_nil(c.expiration)
                assert.is_nil(c.session_token)
            end)
        end)

        it("reports failures clearly and never quotes the output", function()
            local _, clock = clock_at(EXPIRES - 3600)
            local cases = {
                { answer(), 3, "credential_process: the command exited with status 3" },
                { "not json processSecretExample", 0, "credential_process: the command did not print a JSON object" },
                { answer{ Version = 2 }, 0, "credential_process: the command printed Version 2, expected 1" },
                { answer{ Version = false }, 0, "credential_process: the command printed Version nil, expected 1" },
                { answer{ SecretAccessKey = false }, 0, "credential_process: the answer has no SecretAccessKey" },
                { answer{ AccessKeyId = "" }, 0, "credential_process: the answer has no AccessKeyId" },
                { answer{ Expiration = "2026-11-24T10:00:00Z" }, 0, "credential_process: the credentials expired" },
                { nil, nil, "credential_process: the command exited with status 4", "exit 4" },
                { nil, nil, "credential_process: the command exited with status 127",
                  home .. "/no-such-command 2>/dev/null" },
                { nil, nil, "credential_process: the command ended without an exit status %(killed", "kill -9 $$" },
                { answer{ Expiration = "next tuesday" }, 0, "credential_process: Expiration is not an ISO%-8601 time" },
            }
            for _, c in ipairs(cases) do
                local command = c[4] or process_script(c[1], c[2])
                helpers.write_file(cred_file, "[default]\ncredential_process = " .. command .. "\n")
                isolated({}, function()
                    local creds, err = provider{ clock = clock }:get()
                    assert.is_nil(creds)
                    assert.equal("CredentialsError", err.code)
                    assert.matches("could not get credentials from shared files: profile default: " .. c[3],
                        err.message)
                    assert_no_secret(tostring(err), "processSecretExample", "processTokenExample")
                end)
            end
        end)
    end)

    describe("web identity", function()
        local function web_env(extra)
            local token_file = home .. "/web-token"
            helpers.write_file(token_file, WEB_TOKEN .. "\n")
            local vars = { AWS_WEB_IDENTITY_TOKEN_FILE = token_file, AWS_ENDPOINT_URL_STS = srv.url .. "/",
                           AWS_ROLE_ARN = "arn:aws:iam::123456789012:role/kvs-pod-role" }
            for k, v in pairs(extra or {}) do vars[k] = v end
            return vars
        end

        local function form(body)
            local out = {}
            for k, v in body:gmatch("([^&=]+)=([^&]*)") do
                out[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
            end
            return out
        end

        it("exchanges the token at STS with an unsigned AssumeRoleWithWebIdentity", function()
            script{ ["POST /"] = { "sts_assume_role_with_web_identity_ok" } }
            local _, clock = clock_at(EXPIRES - 3600)
            isolated(web_env{ AWS_ROLE_SESSION_NAME = "kvs session/1" }, function()
                local c = assert(provider{ clock = clock }:get())
                assert.same({ STS.id, STS.secret, STS.token, EXPIRES, "web identity" },
                    { c.access_key_id, c.secret_access_key, c.session_token, c.expiration, c.source })
            end)
            local log = srv:requests()
            assert.equal(1, #log)
            local req = log[1]
            assert.equal("POST", req.method)
            assert.equal("/", req.target)
            assert.is_nil(helpers.header(req, "authorization"))
            assert.matches("^application/x%-www%-form%-urlencoded", helpers.header(req, "content-type"))
            assert.same({ Action = "AssumeRoleWithWebIdentity", Version = "2011-06-15",
                          RoleArn = "arn:aws:iam::123456789012:role/kvs-pod-role", RoleSessionName = "kvs session/1",
                          WebIdentityToken = WEB_TOKEN }, form(req.body))
            assert.matches("RoleSessionName=kvs%%20session%%2F1&", req.body)
        end)

        it("names the session itself when AWS_ROLE_SESSION_NAME is unset", function()
            script{ ["POST /"] = { "sts_assume_role_with_web_identity_ok" } }
            local _, clock = clock_at(EXPIRES - 3600)
            isolated(web_env(), function() assert(provider{ clock = clock }:get()) end)
            assert.equal("kinesis-video-signaling-" .. (EXPIRES - 3600), form(srv:requests()[1].body).RoleSessionName)
        end)

        it("builds the regional STS endpoint", function()
            isolated({}, function()
                assert.equal("https://sts.us-west-2.amazonaws.com", web_identity.endpoint("us-west-2"))
                assert.equal("https://sts.cn-north-1.amazonaws.com.cn", web_identity.endpoint("cn-north-1"))
                assert.equal("https://sts.amazonaws.com", web_identity.endpoint(nil))
            end)
            isolated({ AWS_ENDPOINT_URL_STS = "https://sts.example.test//" }, function()
                assert.equal("https://sts.example.test", web_identity.endpoint("us-west-2"))
            end)
        end)

        it("takes the region from AWS_REGION, else the profile", function()
            -- With no STS override, the request goes to the real endpoint; the
            -- error names it, and the transport never reaches it (a send
            -- that records the URL refuses every request).
            local seen = {}
            local recording = function(req)
                seen[#seen + 1] = req.url
                return nil, require("kinesis_video_signaling.errors").new("NetworkError", "offline in specs")
            end
            helpers.write_file(config_file, "[default]\nregion = eu-central-1\n")
            isolated(web_env{ AWS_ENDPOINT_URL_STS = false }, function()
                local _, err = provider{ send = recording }:get()
                assert.matches("STS request to https://sts%.eu%-central%-1%.amazonaws%.com/ failed", err.message)
            end)
            isolated(web_env{ AWS_ENDPOINT_URL_STS = false, AWS_REGION = "cn-northwest-1" }, function()
                assert.is_nil(provider{ send = recording }:get())
            end)
            assert.same({ "https://sts.eu-central-1.amazonaws.com/", "https://sts.cn-northwest-1.amazonaws.com.cn/" },
                seen)
        end)

        it("reports STS refusals and bad answers, with the token scrubbed", function()
            local echo = { status = 400, headers = { { "Content-Type", "text/xml" } },
                           body = "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>Bad token "
                               .. WEB_TOKEN .. "</Message></Error><RequestId>rid-1</RequestId></ErrorResponse>" }
            local cases = {
                { "sts_invalid_identity_token_400", "STS answered HTTP 400 InvalidIdentityToken: Couldn't retrieve "
                  .. "verification key" },
                { echo, "STS answered HTTP 400 InvalidIdentityToken: Bad token <redacted> %(request id rid%-1%)" },
                { { fixture = "sts_assume_role_with_web_identity_ok", body = "<html>not it</html>" },
                  "the STS answer has no Credentials element" },
                { { fixture = "sts_assume_role_with_web_identity_ok",
                    body = "<R><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                        .. "<Expiration>2026-11-24T12:00:00Z</Expiration></Credentials></R>" },
                  "the STS answer has no SessionToken" },
                { { fixture = "error_500" }, "STS answered HTTP 500" },
                { { fault = "close_before_headers" }, "STS request to .* failed: NetworkError" },
            }
            local _, clock = clock_at(EXPIRES - 3600)
            for _, c in ipairs(cases) do
                srv:reset()
                script{ ["POST /"] = { c[1] } }
                isolated(web_env(), function()
                    local creds, err = provider{ clock = clock }:get()
                    assert.is_nil(creds)
                    assert.equal("CredentialsError", err.code)
                    assert.matches("could not get credentials from web identity: " .. c[2], err.message)
                    assert_no_secret(tostring(err), WEB_TOKEN)
                end)
            end
        end)

        it("refuses a setup with the token file but no role, or an unreadable token file", function()
            isolated(web_env{ AWS_ROLE_ARN = false }, function()
                local _, err = provider():get()
                assert.matches("web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not",
                    err.message)
            end)
            isolated(web_env{ AWS_WEB_IDENTITY_TOKEN_FILE = home .. "/absent" }, function()
                local _, err = provider():get()
                assert.matches("web identity: cannot read the token file", err.message)
            end)
            assert.same({}, targets())
        end)
    end)

    describe("container", function()
        it("builds the URL from the relative or full URI, and refuses plain HTTP elsewhere", function()
            local cases = {
                { { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "/v2/credentials/4bd1-task" },
                  "http://169.254.170.2/v2/credentials/4bd1-task" },
                { { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "v2/credentials/x",
                    AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1:9/ignored" },
                  "http://169.254.170.2/v2/credentials/x" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://169.254.170.23/v1/credentials" },
                  "http://169.254.170.23/v1/credentials" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://[fd00:ec2::23]/v1/credentials" },
                  "http://[fd00:ec2::23]/v1/credentials" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://localhost:8080/creds" },
                  "http://localhost:8080/creds" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "https://creds.example.com/x" },
                  "https://creds.example.com/x" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://creds.example.com/x" }, nil,
                  "plain http is only allowed .* %(got host creds%.example%.com%)" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://127.0.0.1@evil.example.com/x" }, nil,
                  "plain http is only allowed to a loopback or container agent address$" },
                { { AWS_CONTAINER_CREDENTIALS_FULL_URI = "file:///etc/passwd" }, nil, "is not an http%(s%) URL" },
                { {}, nil, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set" },
            }
            for _, c in ipairs(cases) do
                isolated(c[1], function()
                    local url, why = container.url()
                    assert.equal(c[2], url)
                    if c[3] then assert.matches(c[3], why) end
                end)
            end
        end)

        it("asks the agent with the authorization token", function()
            script{ ["GET /v1/credentials"] = { "ecs_credentials" } }
            local _, clock = clock_at(EXPIRES - 3600)
            isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/v1/credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN = "Basic abc123token" }, function()
                local c = assert(provider{ clock = clock }:get())
                assert.same({ ECS.id, ECS.secret, ECS.token, EXPIRES, "container" },
                    { c.access_key_id, c.secret_access_key, c.session_token, c.expiration, c.source })
            end)
            local req = srv:requests()[1]
            assert.equal("GET /v1/credentials", req.method .. " " .. req.target)
            assert.equal("Basic abc123token", helpers.header(req, "authorization"))
        end)

        it("reads the token file at every refresh, ahead of the token variable", function()
            script{ ["GET /v1/credentials"] = { "ecs_credentials", "ecs_credentials" } }
            local token_file = home .. "/eks-token"
            helpers.write_file(token_file, "eks-pod-identity-token-1\n")
            local now, clock = clock_at(EXPIRES - 3600)
            isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/v1/credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = token_file,
                       AWS_CONTAINER_AUTHORIZATION_TOKEN = "not-this-one" }, function()
                local p = provider{ clock = clock }
                assert(p:get())
                helpers.write_file(token_file, "eks-pod-identity-token-2")
                now.t = EXPIRES - 200
                assert(p:get())
            end)
            local log = srv:requests()
            assert.equal(2, #log)
            assert.equal("eks-pod-identity-token-1", helpers.header(log[1], "authorization"))
            assert.equal("eks-pod-identity-token-2", helpers.header(log[2], "authorization"))
        end)

        it("reports refusals and bad answers", function()
            local fixture = cjson.decode(helpers.read_file(replay.fixtures_dir .. "/ecs_credentials.json"))
            local good = cjson.decode(fixture.body)
            local function body(fields)
                local a = {}
                for k, v in pairs(good) do a[k] = v end
                for k, v in pairs(fields) do if v == false then a[k] = nil else a[k] = v end end
                return { fixture = "ecs_credentials", body = cjson.encode(a) }
            end
            local cases = {
                { "ecs_unauthorized_401", "answered HTTP 401: Authorization token is not valid" },
                { { fixture = "ecs_credentials", body = "{\"AccessKeyId\": " }, "did not answer with a JSON object" },
                { body{ SecretAccessKey = false }, "the answer has no SecretAccessKey" },
                { body{ Token = 42 }, "Token is not a string" },
                { body{ Expiration = "2026-11-24T11:00:00Z" }, "the credentials expired 1800 s ago" },
                { { fault = "close_before_headers" }, "request to .* failed: NetworkError" },
            }
            local _, clock = clock_at(EXPIRES - 1800)
            for _, c in ipairs(cases) do
                srv:reset()
                script{ ["GET /creds"] = { c[1] } }
                isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/creds",
                           AWS_CONTAINER_AUTHORIZATION_TOKEN = "tok" }, function()
                    local creds, err = provider{ clock = clock }:get()
                    assert.is_nil(creds)
                    assert.equal("CredentialsError", err.code)
                    assert.matches("could not get credentials from container: " .. ".*" .. c[2], err.message)
                    assert_no_secret(tostring(err), ECS.secret, ECS.token)
                end)
            end
        end)

        it("refuses a token with a line break before sending it", function()
            isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/creds",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN = "tok\r\nX-Injected: 1" }, function()
                local _, err = provider():get()
                assert.matches("container: the authorization token is empty or has a line break", err.message)
            end)
            assert.same({}, targets())
        end)
    end)

    describe("instance metadata", function()
        it("uses IMDSv2: a session token, then the role, then its credentials", function()
            script_imds()
            local _, clock = clock_at(EXPIRES - 3600)
            isolated({ AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url .. "/" },
                function()
                    local c = assert(provider{ clock = clock }:get())
                    assert.same({ IMDS.id, IMDS.secret, IMDS.token, EXPIRES, "instance metadata" },
                        { c.access_key_id, c.secret_access_key, c.session_token, c.expiration, c.source })
                end)
            local log = srv:requests()
            assert.same({ "PUT /latest/api/token", "GET " .. ROLE_PATH, "GET " .. ROLE_PATH .. "kvs-instance-role" },
                targets())
            assert.equal("21600", helpers.header(log[1], "x-aws-ec2-metadata-token-ttl-seconds"))
            assert.is_nil(helpers.header(log[1], "x-aws-ec2-metadata-token"))
            assert.equal(IMDS_TOKEN, helpers.header(log[2], "x-aws-ec2-metadata-token"))
            assert.equal(IMDS_TOKEN, helpers.header(log[3], "x-aws-ec2-metadata-token"))
        end)

        it("is not asked when AWS_EC2_METADATA_DISABLED is true", function()
            script_imds()
            isolated({ AWS_EC2_METADATA_DISABLED = "TRUE", AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url }, function()
                local _, err = provider():get()
                assert.matches("instance metadata %(disabled by AWS_EC2_METADATA_DISABLED%)$", err.message)
            end)
            assert.same({}, targets())
        end)

        it("builds its base URL", function()
            isolated({ AWS_EC2_METADATA_DISABLED = false }, function()
                assert.equal("http://169.254.169.254", imds.base())
            end)
            isolated({ AWS_EC2_METADATA_DISABLED = "false", AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE = "IPv6" },
                function() assert.equal("http://[fd00:ec2::254]", imds.base()) end)
        end)

        it("never falls back to IMDSv1, and reports each step's failure", function()
            local cases = {
                { { ["PUT /latest/api/token"] = { "imds_not_found_404" } },
                  "PUT http://127%.0%.0%.1:%d+/latest/api/token answered HTTP 404", 1 },
                { { ["PUT /latest/api/token"] = { "imds_token" }, ["GET " .. ROLE_PATH] = { "imds_not_found_404" } },
                  "no IAM role is attached to this instance", 2 },
                { { ["PUT /latest/api/token"] = { "imds_token" }, ["GET " .. ROLE_PATH] = { "imds_unauthorized_401" } },
                  "answered HTTP 401", 2 },
                { { ["PUT /latest/api/token"] = { "imds_token" }, ["GET " .. ROLE_PATH] = { "imds_role" },
                    ["GET " .. ROLE_PATH .. "kvs-instance-role"] = { { fixture = "imds_credentials",
                        body = "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\"}" } } },
                  "the metadata service answered Code AssumeRoleUnauthorizedAccess", 3 },
                { { ["PUT /latest/api/token"] = { "imds_token" }, ["GET " .. ROLE_PATH] = { "imds_role" },
                    ["GET " .. ROLE_PATH .. "kvs-instance-role"] = {
                        { fixture = "imds_credentials", body = "<html>" } } },
                  "did not answer with a JSON object", 3 },
            }
            local _, clock = clock_at(EXPIRES - 3600)
            for _, c in ipairs(cases) do
                srv:reset()
                script(c[1])
                isolated({ AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url },
                    function()
                        local creds, err = provider{ clock = clock }:get()
                        assert.is_nil(creds)
                        assert.equal("CredentialsError", err.code)
                        assert.matches("^no credentials found; tried: .*; instance metadata %(.*" .. c[2], err.message)
                    end)
                assert.equal(c[3], #srv:requests())
            end
        end)

        it("gives up within its timeout when nothing answers", function()
            script{ ["PUT /latest/api/token"] = { { fault = "stall_before_headers", stall = 5 } } }
            isolated({ AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url }, function()
                local started = core.monotonic()
                local creds, err = provider():get()
                local took = core.monotonic() - started
                assert.is_nil(creds)
                assert.equal("CredentialsError", err.code)
                assert.matches("instance metadata %(PUT .*/latest/api/token: TimeoutError", err.message)
                assert.is_true(took >= 0.9 and took < 2.5, "took " .. took .. " s")
            end)
            assert.equal(1, #srv:requests())
        end)
    end)

    describe("expiry and refresh", function()
        local function script_container(...)
            local list = {}
            for i, f in ipairs{ ... } do list[i] = type(f) == "string" and { fixture = f } or f end
            script{ ["GET /creds"] = list }
        end

        local function container_env(fn)
            isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/creds" }, fn)
        end

        local second = { fixture = "ecs_credentials",
                         body = cjson.encode{ AccessKeyId = "ASIASECONDEXAMPLE001", SecretAccessKey = "second-secret",
                                              Token = "second-token", Expiration = "2026-11-24T13:00:00Z" } }

        it("refreshes once fewer than refresh_margin seconds remain", function()
            script_container("ecs_credentials", second)
            local now, clock = clock_at(EXPIRES - 3600)
            container_env(function()
                local p = provider{ clock = clock }
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                now.t = EXPIRES - 301
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                assert.equal(1, #srv:requests())
                now.t = EXPIRES - 299
                local c = assert(p:get())
                assert.equal("ASIASECONDEXAMPLE001", c.access_key_id)
                assert.equal(EXPIRES + 3600, c.expiration)
                assert.equal(2, #srv:requests())
            end)
        end)

        it("honours a custom refresh_margin", function()
            script_container("ecs_credentials", second)
            local now, clock = clock_at(EXPIRES - 3600)
            container_env(function()
                local p = provider{ clock = clock, refresh_margin = 10 }
                assert(p:get())
                now.t = EXPIRES - 11
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                now.t = EXPIRES - 9
                assert.equal("ASIASECONDEXAMPLE001", assert(p:get()).access_key_id)
            end)
        end)

        it("keeps valid credentials when a refresh fails, and waits before trying again", function()
            script_container("ecs_credentials", "ecs_unauthorized_401", "ecs_unauthorized_401", "ecs_unauthorized_401")
            local now, clock = clock_at(EXPIRES - 3600)
            container_env(function()
                local p = provider{ clock = clock }
                assert(p:get())
                now.t = EXPIRES - 200
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                assert.equal(2, #srv:requests())
                now.t = EXPIRES - 195 -- within the pause after a failure: not asked
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                assert.equal(2, #srv:requests())
                now.t = EXPIRES - 189
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                assert.equal(3, #srv:requests())
                now.t = EXPIRES + 1 -- expired: a failure is now an error
                local c, err = p:get()
                assert.is_nil(c)
                assert.equal("CredentialsError", err.code)
                assert.matches("answered HTTP 401", err.message)
                assert.equal(4, #srv:requests())
            end)
        end)

        it("does not ask at every call for credentials that arrive inside the margin", function()
            script_container("ecs_credentials", "ecs_credentials")
            local now, clock = clock_at(EXPIRES - 200)
            container_env(function()
                local p = provider{ clock = clock }
                assert(p:get())
                now.t = EXPIRES - 150
                assert(p:get())
                assert.equal(1, #srv:requests())
                now.t = EXPIRES - 139
                assert(p:get())
                assert.equal(2, #srv:requests())
            end)
        end)

        it("calls the user's function at every get, unless it gives an expiration", function()
            local calls = 0
            local now, clock = clock_at(EXPIRES - 3600)
            isolated({}, function()
                local p = provider{ clock = clock, credentials = function()
                    calls = calls + 1
                    return { access_key_id = "AKIDFN" .. calls, secret_access_key = "s" }
                end }
                assert.equal("AKIDFN1", assert(p:get()).access_key_id)
                assert.equal("AKIDFN2", assert(p:get()).access_key_id)
                calls = 0
                p = provider{ clock = clock, credentials = function()
                    calls = calls + 1
                    if calls >= 3 then return nil, "vault is down" end
                    return { access_key_id = "AKIDFN" .. calls, secret_access_key = "s",
                             expiration = calls == 1 and "2026-11-24T12:00:00Z" or EXPIRES + 3600 }
                end }
                assert.equal("AKIDFN1", assert(p:get()).access_key_id)
                assert.equal("AKIDFN1", assert(p:get()).access_key_id)
                assert.equal(1, calls)
                now.t = EXPIRES - 100
                assert.equal("AKIDFN2", assert(p:get()).access_key_id)
                now.t = EXPIRES + 3600 - 100
                assert.equal("AKIDFN2", assert(p:get()).access_key_id) -- refresh failed, old still valid
                now.t = EXPIRES + 3600
                local c, err = p:get()
                assert.is_nil(c)
                assert.equal("the credentials function gave none: vault is down", err.message)
                local _, raised = provider{ credentials = function() error("boom " .. FILE_SECRET) end }:get()
                assert.equal("the credentials function raised an error", raised.message)
            end)
        end)

        it("runs refreshes through opts.lock, and only refreshes", function()
            script_container("ecs_credentials", second)
            local runs = 0
            local lock = { run = function(_, fn)
                runs = runs + 1
                return fn()
            end }
            local now, clock = clock_at(EXPIRES - 3600)
            container_env(function()
                local p = provider{ clock = clock, lock = lock }
                assert(p:get())
                assert(p:get())
                assert.equal(1, runs)
                now.t = EXPIRES - 100
                assert.equal("ASIASECONDEXAMPLE001", assert(p:get()).access_key_id)
                assert.equal(2, runs)
            end)
        end)

        it("lets a caller that waited on the lock use the refresh another caller made", function()
            script_container("ecs_credentials", second)
            local p
            local _, clock = clock_at(EXPIRES - 3600)
            -- Before this caller's turn, another caller refreshes, as a
            -- waiter sees it: this caller must use that result, not ask again.
            local lock = { run = function(self, fn)
                p.lock = nil
                local other = assert(p:get())
                p.lock = self
                local mine = fn()
                assert.equal(other, mine)
                return mine
            end }
            container_env(function()
                p = provider{ clock = clock, lock = lock }
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                assert.equal(1, #srv:requests())
            end)
        end)

        it("turns a lock failure into a CredentialsError, or keeps valid credentials", function()
            script_container("ecs_credentials")
            local failing = false
            local lock = { run = function(_, fn)
                if failing then
                    return nil, require("kinesis_video_signaling.errors").new("TimeoutError", "waited 30 s")
                end
                return fn()
            end }
            local now, clock = clock_at(EXPIRES - 3600)
            container_env(function()
                local p = provider{ clock = clock, lock = lock }
                assert(p:get())
                failing = true
                now.t = EXPIRES - 100
                assert.equal(ECS.id, assert(p:get()).access_key_id)
                now.t = EXPIRES + 1
                local c, err = p:get()
                assert.is_nil(c)
                assert.equal("CredentialsError", err.code)
                assert.equal("waiting for the credentials refresh: TimeoutError: waited 30 s", err.message)
                local _, raised = provider{ lock = { run = function() error("lock broke") end } }:get()
                assert.matches("the credentials refresh lock raised an error: .*lock broke", raised.message)
            end)
        end)
    end)

    describe("when nothing yields", function()
        it("lists every source tried and why it gave nothing", function()
            isolated({}, function()
                local c, err = provider():get()
                assert.is_nil(c)
                assert.equal("CredentialsError", err.code)
                assert.is_false(err.retryable)
                assert.equal("no credentials found; tried: environment (AWS_ACCESS_KEY_ID not set); "
                    .. "web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set); shared files (profile default not found in "
                    .. cred_file .. " (no such file), " .. config_file .. " (no such file)); container "
                    .. "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set); instance metadata "
                    .. "(disabled by AWS_EC2_METADATA_DISABLED)", err.message)
                assert.matches("^CredentialsError: no credentials found; tried: ", tostring(err))
            end)
        end)

        it("is what a client call returns", function()
            isolated({}, function()
                local client = assert(kvs.new{ region = "us-west-2", endpoint = srv.url })
                local out, err = client:get_ice_server_config(ARN)
                assert.is_nil(out)
                assert.equal("CredentialsError", err.code)
            end)
            assert.same({}, targets())
        end)
    end)

    describe("end to end", function()
        it("signs a client's call with the key from the credentials file", function()
            write_file_creds()
            script{ [ICE] = { "get_ice_server_config_ok" } }
            local client
            isolated({}, function()
                client = assert(kvs.new{ region = "us-west-2", endpoint = srv.url, timeout = 2 })
                local out = assert(client:get_ice_server_config(ARN))
                assert.equal(2, #out.IceServerList)
            end)
            local req = srv:requests()[1]
            assert.matches("Credential=" .. FILE_ID .. "/%d+/us%-west%-2/kinesisvideo/aws4_request",
                helpers.header(req, "authorization"))
            assert.equal(FILE_TOKEN, helpers.header(req, "x-amz-security-token"))
            local expected, actual = helpers.recompute_signature(req, srv.url,
                { access_key_id = FILE_ID, secret_access_key = FILE_SECRET, session_token = FILE_TOKEN }, "us-west-2")
            assert.equal(expected, actual)
            local shown = tostring(client)
            assert.matches(FILE_ID, shown)
            assert_no_secret(shown, FILE_SECRET, FILE_TOKEN)
        end)

        it("fetches container credentials and signs with them over the same transport", function()
            script{ [ICE] = { "get_ice_server_config_ok" }, ["GET /v1/credentials"] = { "ecs_credentials" } }
            local client
            isolated({ AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/v1/credentials" }, function()
                -- the fixture's credentials expire at a fixed time: the client's clock sits before it
                client = assert(kvs.new{ region = "us-west-2", endpoint = srv.url, timeout = 2,
                                         clock = function() return EXPIRES - 3600 end })
                assert(client:get_ice_server_config(ARN))
            end)
            local log = srv:requests()
            assert.same({ "GET /v1/credentials", "POST " .. ICE }, targets())
            assert.equal(ECS.token, helpers.header(log[2], "x-amz-security-token"))
            local expected, actual = helpers.recompute_signature(log[2], srv.url,
                { access_key_id = ECS.id, secret_access_key = ECS.secret, session_token = ECS.token }, "us-west-2")
            assert.equal(expected, actual)
            assert_no_secret(tostring(client), ECS.secret, ECS.token)
        end)

        it("keeps secrets out of errors from every failing source", function()
            local token_file = home .. "/web-token"
            helpers.write_file(token_file, WEB_TOKEN)
            script{ ["POST /"] = { { status = 403, headers = { { "Content-Type", "text/xml" } },
                                     body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>token "
                                         .. WEB_TOKEN .. " refused</Message></Error></ErrorResponse>" } } }
            isolated({ AWS_WEB_IDENTITY_TOKEN_FILE = token_file, AWS_ROLE_ARN = "arn:aws:iam::1:role/r",
                       AWS_ENDPOINT_URL_STS = srv.url }, function()
                local client = assert(kvs.new{ region = "us-west-2", endpoint = srv.url })
                local _, err = client:get_ice_server_config(ARN)
                assert.equal("CredentialsError", err.code)
                assert.matches("AccessDenied: token <redacted> refused", err.message)
                assert_no_secret(tostring(err), WEB_TOKEN)
                assert_no_secret(tostring(client), WEB_TOKEN)
            end)
        end)
    end)
end)
