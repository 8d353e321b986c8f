-- Bad caller input: every member of both operations with the wrong type,
-- empty, too long, off its pattern, with an embedded NUL; unknown members,
-- no params, extra positional arguments; and kvs.sign / kvs.presign with
-- header injection attempts, bad methods, URLs, scopes, credentials, times,
-- huge bodies and non-ASCII paths. Every refusal is a ParamValidationError
-- whose message starts with the member it names, is one printable line, and
-- sends nothing: the replay server, scripted to answer, sees no request.
local kvs = require "kinesis_video_signaling"
local core = require "kinesis_video_signaling.core"
local helpers = require "spec.support.helpers"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
local PAYLOAD = helpers.PAYLOAD
local CREDS = helpers.creds(helpers.SESSION_TOKEN)
local ICE = helpers.ICE_PATH
local OFFER = helpers.OFFER_PATH
local unpack = table.unpack or unpack

-- A refusal: ParamValidationError, message "<member>...: ..." on one line.
local function assert_refused(member, out, err)
    assert.is_nil(out)
    assert.is_table(err, "expected an error table")
    assert.equal("ParamValidationError", err.code, tostring(err))
    assert.is_string(err.message)
    assert.equal(member, err.message:sub(1, #member), "message does not name " .. member .. ": " .. err.message)
    assert.is_nil(err.message:find("[%z\1-\31\127]"), "message is not one printable line: "
        .. ("%q"):format(err.message))
    assert.is_nil(err.status)
    assert.is_false(err.retryable)
end

describe("bad input to the operations", function()
    local srv, client

    setup(function()
        srv = replay.start{ lifetime = 300 }
        client = assert(kvs.new{ endpoint = srv.url, region = "us-west-2", credentials = CREDS, max_attempts = 1,
                                 timeout = 2, connect_timeout = 1 })
    end)
    teardown(function() srv:stop() end)
    before_each(function()
        srv:reset()
        -- Anything that got through would be answered, and logged.
        srv:script({}, { fixture = "get_ice_server_config_ok" })
    end)

    -- The valid params of each operation; each case breaks one member.
    local VALID = {
        get_ice_server_config = { ChannelARN = ARN, ClientId = "viewer-1", Service = "TURN", Username = "alice" },
        send_alexa_offer_to_master = { ChannelARN = ARN, SenderClientId = "sender-1", MessagePayload = PAYLOAD },
    }
    -- member = { max length, a value off the pattern }
    local RULES = {
        ChannelARN = { 1024, "arn:aws:s3:::bucket/key" },
        ClientId = { 256, "viewer 1" },
        Username = { 256, "alice@example" },
        SenderClientId = { 256, "sender/1" },
        MessagePayload = { 10000, "not base64!" },
        Service = { nil, "STUN" },
    }

    local function with(op, member, value)
        local params = {}
        for k, v in pairs(VALID[op]) do params[k] = v end
        params[member] = value
        return params
    end

    local function call(op, ...)
        return client[op](client, ...)
    end

    it("sends a valid call (the refusals below are not a dead server)", function()
        srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } },
                    [OFFER] = { { fixture = "send_alexa_offer_to_master_ok" } } }
        assert(call("get_ice_server_config", VALID.get_ice_server_config))
        assert(call("send_alexa_offer_to_master", VALID.send_alexa_offer_to_master))
        assert.equal(2, #srv:requests())
    end)

    for _, op in ipairs{ "get_ice_server_config", "send_alexa_offer_to_master" } do
        local members = {}
        for name in pairs(VALID[op]) do members[#members + 1] = name end
        table.sort(members)
        for _, member in ipairs(members) do
            local rule = RULES[member]
            local valid = VALID[op][member]
            local cases = {
                { "a number", 42 },
                { "a float", 1.5 },
                { "a boolean", true },
                { "a table", { valid } },
                { "a function", print },
                { "empty", "" },
                { "off its pattern", rule[2] },
                { "with an embedded NUL", valid:sub(1, 3) .. "\0" .. valid:sub(4) },
                { "with a trailing NUL", valid .. "\0" },
                { "with CR LF", valid .. "\r\nX-Injected: 1" },
                { "non-ASCII", valid .. "\xc3\xa9" },
                { "invalid UTF-8", valid .. "\xff\xfe" },
            }
            if rule[1] then cases[#cases + 1] = { "one byte too long", ("a"):rep(rule[1] + 1) } end
            if rule[1] then cases[#cases + 1] = { "huge (1 MiB)", ("A"):rep(1024 * 1024) } end
            for _, case in ipairs(cases) do
                it(op .. " " .. member .. " " .. case[1] .. " is refused, nothing sent", function()
                    local out, err = call(op, with(op, member, case[2]))
                    assert_refused(member, out, err)
                    assert.equal(0, #srv:requests())
                end)
            end
        end
    end

    local shapes = {
        { "no params at all", "get_ice_server_config", {}, "ChannelARN" },
        { "nil params", "get_ice_server_config", { n = 1 }, "ChannelARN" },
        { "nil ARN with nil params", "send_alexa_offer_to_master", { n = 4 }, "ChannelARN" },
        { "an empty table", "send_alexa_offer_to_master", { {} }, "ChannelARN" },
        { "params a string", "get_ice_server_config", { ARN, "x" }, "params" },
        { "params a number", "send_alexa_offer_to_master", { ARN, PAYLOAD, "s", 7 }, "params" },
        { "params a function", "get_ice_server_config", { ARN, print }, "params" },
        { "an unknown member", "get_ice_server_config", { { ChannelARN = ARN, Region = "us-west-2" } }, "Region" },
        { "a lower-case member name", "get_ice_server_config", { { channelARN = ARN } }, "channelARN" },
        { "a member in the wrong operation", "get_ice_server_config",
          { { ChannelARN = ARN, MessagePayload = PAYLOAD } },
          "MessagePayload" },
        { "a positional member in the table", "get_ice_server_config", { { ARN } }, "1" },
        { "a boolean key", "send_alexa_offer_to_master", { ARN, PAYLOAD, "s", { [true] = "x" } }, "true" },
        { "one extra positional argument", "get_ice_server_config", { ARN, {}, "extra" }, "arguments" },
        { "many extra positional arguments", "send_alexa_offer_to_master", { ARN, PAYLOAD, "s", {}, 1, 2, 3 },
          "arguments" },
        { "missing SenderClientId", "send_alexa_offer_to_master", { ARN, PAYLOAD }, "SenderClientId" },
        { "missing MessagePayload", "send_alexa_offer_to_master", { { ChannelARN = ARN, SenderClientId = "s" } },
          "MessagePayload" },
        { "an ARN positional of the wrong type", "get_ice_server_config", { 12345 }, "ChannelARN" },
    }
    for _, case in ipairs(shapes) do
        it(case[2] .. " with " .. case[1] .. " is refused, nothing sent", function()
            local args = case[3]
            assert_refused(case[4], call(case[2], unpack(args, 1, args.n or #args)))
            assert.equal(0, #srv:requests())
        end)
    end

    it("leaves the caller's params table untouched", function()
        local params = { ChannelARN = ARN, ClientId = "bad id" }
        assert_refused("ClientId", call("get_ice_server_config", params))
        assert.same({ ChannelARN = ARN, ClientId = "bad id" }, params)
    end)
end)

describe("bad input to kvs.sign and kvs.presign", function()
    local BASE = {
        method = "POST", url = "https://kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config",
        headers = { ["Content-Type"] = "application/json" }, body = "{}",
        region = "us-west-2", service = "kinesisvideo", credentials = CREDS, time = 1440938160,
    }
    local function with(changes)
        local p = {}
        for k, v in pairs(BASE) do p[k] = v end
        for k, v in pairs(changes) do
            if v == "<nil>" then p[k] = nil else p[k] = v end
        end
        return p
    end

    it("signs the base params (the refusals below are not a broken base)", function()
        assert.is_string(assert(kvs.sign(BASE)).signature)
        assert.is_string(assert(kvs.presign(BASE)))
    end)

    local cases = {
        -- header injection and invalid header names or values
        { "a CR LF in a header value", { headers = { ["X-A"] = "a\r\nX-Injected: 1" } }, "headers" },
        { "a lone LF in a header value", { headers = { ["X-A"] = "a\nb" } }, "headers" },
        { "a lone CR in a header value", { headers = { ["X-A"] = "a\rb" } }, "headers" },
        { "a NUL in a header value", { headers = { ["X-A"] = "a\0b" } }, "headers" },
        { "a CR LF in one value of a list", { headers = { ["X-A"] = { "ok", "b\r\nX-Injected: 1" } } }, "headers" },
        { "a CR LF in the Host value", { headers = { Host = "example.com\r\nX-Injected: 1" } }, "headers" },
        { "a CR LF in a header name", { headers = { ["X-A\r\nX-Injected"] = "1" } }, "headers" },
        { "a NUL in a header name", { headers = { ["X-A\0B"] = "1" } }, "headers" },
        { "a colon in a header name", { headers = { ["X-A:B"] = "1" } }, "headers" },
        { "a space in a header name", { headers = { ["X A"] = "1" } }, "headers" },
        { "an empty header name", { headers = { [""] = "1" } }, "headers" },
        { "a non-ASCII header name", { headers = { ["X-\xc3\xa9"] = "1" } }, "headers" },
        { "a number as a header value", { headers = { ["X-A"] = 1 } }, "headers" },
        { "a number as the value of a name with CR LF", { headers = { ["X-A\r\nX-Injected"] = 1 } }, "headers" },
        { "a name with CR LF given twice", { headers = { ["X-A\r\n"] = "1", ["x-a\r\n"] = "2" } }, "headers" },
        { "a boolean as a header value", { headers = { ["X-A"] = true } }, "headers" },
        { "an empty list as a header value", { headers = { ["X-A"] = {} } }, "headers" },
        { "a list with a number", { headers = { ["X-A"] = { "a", 2 } } }, "headers" },
        { "a number as a header name", { headers = { [1] = "x" } }, "headers" },
        { "one name in two letter cases", { headers = { ["X-A"] = "1", ["x-a"] = "2" } }, "headers" },
        { "headers a string", { headers = "Content-Type: application/json" }, "headers" },
        -- method
        { "no method", { method = "<nil>" }, "method" },
        { "an empty method", { method = "" }, "method" },
        { "a method with a space", { method = "GE T" }, "method" },
        { "a method with CR LF", { method = "GET\r\nX-Injected: 1" }, "method" },
        { "a method with a NUL", { method = "PO\0ST" }, "method" },
        { "a method as a number", { method = 1 }, "method" },
        -- url
        { "no url", { url = "<nil>" }, "url" },
        { "an empty url", { url = "" }, "url" },
        { "a url without a scheme", { url = "kinesisvideo.us-west-2.amazonaws.com/x" }, "url" },
        { "a url without a host", { url = "https:///path" }, "url" },
        { "a url with user info", { url = "https://user:pass@example.com/" }, "url" },
        { "a url with a bad port", { url = "https://example.com:99999/" }, "url" },
        { "a url with a port over 65535", { url = "https://example.com:65536/" }, "url" },
        { "a url with a non-numeric port", { url = "https://example.com:https/" }, "url" },
        { "a url with an upper-case scheme", { url = "HTTPS://example.com/" }, "url" },
        { "a url with CR LF", { url = "https://example.com/\r\nX-Injected: 1" }, "url" },
        { "a url with a NUL", { url = "https://example.com/a\0b" }, "url" },
        { "a url with a space in the host", { url = "https://exa mple.com/" }, "url" },
        { "a url with an open IPv6 bracket", { url = "https://[::1/" }, "url" },
        { "a url as a table", { url = { "https://example.com/" } }, "url" },
        -- region and service
        { "no region", { region = "<nil>" }, "region" },
        { "an empty region", { region = "" }, "region" },
        { "a region with a slash", { region = "us/west" }, "region" },
        { "a region with a space", { region = "us west" }, "region" },
        { "a region with a NUL", { region = "us-west-2\0" }, "region" },
        { "a region too long", { region = ("a"):rep(65) }, "region" },
        { "a non-ASCII region", { region = "r\xc3\xa9gion" }, "region" },
        { "no service", { service = "<nil>" }, "service" },
        { "a service with CR LF", { service = "kinesisvideo\r\n" }, "service" },
        { "a service as a number", { service = 7 }, "service" },
        -- credentials
        { "no credentials", { credentials = "<nil>" }, "credentials" },
        { "credentials a string", { credentials = "AKIDEXAMPLE:secret" }, "credentials" },
        { "credentials a number", { credentials = 1 }, "credentials" },
        { "credentials a function", { credentials = function() return CREDS end }, "credentials" },
        { "credentials without a key id", { credentials = { secret_access_key = "s" } }, "credentials.access_key_id" },
        { "an empty access key id", { credentials = { access_key_id = "", secret_access_key = "s" } },
          "credentials.access_key_id" },
        { "an access key id with a space",
          { credentials = { access_key_id = "AKID EXAMPLE", secret_access_key = "s" } },
          "credentials.access_key_id" },
        { "an access key id with CR LF", { credentials = { access_key_id = "AKID\r\n", secret_access_key = "s" } },
          "credentials.access_key_id" },
        { "a non-ASCII access key id", { credentials = { access_key_id = "AK\xc3\xa9", secret_access_key = "s" } },
          "credentials.access_key_id" },
        { "no secret", { credentials = { access_key_id = "AKID" } }, "credentials.secret_access_key" },
        { "an empty secret", { credentials = { access_key_id = "AKID", secret_access_key = "" } },
          "credentials.secret_access_key" },
        { "a secret with a NUL", { credentials = { access_key_id = "AKID", secret_access_key = "se\0cret" } },
          "credentials.secret_access_key" },
        { "a secret as a number", { credentials = { access_key_id = "AKID", secret_access_key = 12345 } },
          "credentials.secret_access_key" },
        { "a session token with CR LF",
          { credentials = { access_key_id = "AKID", secret_access_key = "s", session_token = "tok\r\nX-Injected: 1" } },
          "credentials.session_token" },
        { "a session token with a NUL",
          { credentials = { access_key_id = "AKID", secret_access_key = "s", session_token = "tok\0en" } },
          "credentials.session_token" },
        { "a session token as a table",
          { credentials = { access_key_id = "AKID", secret_access_key = "s", session_token = {} } },
          "credentials.session_token" },
        -- time and body
        { "a negative time", { time = -1 }, "time" },
        { "a time after year 9999", { time = 253402300800 }, "time" },
        { "an infinite time", { time = math.huge }, "time" },
        { "a NaN time", { time = 0 / 0 }, "time" },
        { "a time as a string", { time = "1440938160" }, "time" },
        { "a body as a number", { body = 42 }, "body" },
        { "a body as a table", { body = { "x" } }, "body" },
    }
    for _, case in ipairs(cases) do
        for _, fn in ipairs{ "sign", "presign" } do
            it("kvs." .. fn .. " refuses " .. case[1], function()
                assert_refused(case[3], kvs[fn](with(case[2])))
            end)
        end
    end

    for _, case in ipairs{
        { "an expiry of 0", 0 }, { "an expiry over 7 days", 604801 }, { "a negative expiry", -1 },
        { "a NaN expiry", 0 / 0 }, { "an expiry as a string", "300" }, { "an infinite expiry", math.huge },
    } do
        it("kvs.presign refuses " .. case[1], function()
            assert_refused("expires", kvs.presign(with{ expires = case[2] }))
        end)
    end

    for _, v in ipairs{ false, "params", 42 } do
        it("kvs.sign and kvs.presign refuse params that are " .. tostring(v), function()
            assert_refused("params", kvs.sign(v))
            assert_refused("params", kvs.presign(v))
        end)
    end

    it("kvs.sign and kvs.presign refuse no params at all", function()
        assert_refused("params", kvs.sign())
        assert_refused("params", kvs.presign())
    end)

    it("never puts a header the caller injected into the signed headers", function()
        local _, err = kvs.sign(with{ headers = { ["X-A"] = "a\r\nAuthorization: forged" } })
        assert.equal("ParamValidationError", err.code)
        local signed = assert(kvs.sign(BASE))
        for name, value in pairs(signed.headers) do
            assert.is_nil(name:find("[%c:]"), name)
            assert.is_nil(value:find("[\r\n%z]"), value)
        end
    end)

    -- sha256 of a file, by a program that is not the module under test
    local function openssl_sha256(data)
        local path = os.tmpname()
        local f = assert(io.open(path, "wb"))
        f:write(data)
        f:close()
        local p = assert(io.popen("openssl dgst -sha256 -r " .. path))
        local out = p:read("a")
        p:close()
        os.remove(path)
        return (assert(out:match("^(%x+)"), "openssl gave no digest"))
    end

    it("signs an 8 MiB body in both modes, hashing all of it", function()
        local body = ("0123456789abcdef"):rep(512 * 1024) .. "\0tail"
        assert.equal(8 * 1024 * 1024 + 5, #body)
        local want = openssl_sha256(body)
        local t0 = core.monotonic()
        local signed = assert(kvs.sign(with{ body = body, debug = true }))
        assert.equal(want, signed.canonical_request:match("\n(%x+)$"))
        local pre = assert(kvs.presign(with{ body = body, debug = true }))
        assert.equal(want, pre.canonical_request:match("\n(%x+)$"))
        assert.is_true(core.monotonic() - t0 < 5, "signing 8 MiB twice took too long")
        -- one byte changed anywhere changes the signature
        local other = assert(kvs.sign(with{ body = body:sub(1, -2) .. "X" }))
        assert.are_not.equal(signed.signature, other.signature)
    end)

    it("signs a non-ASCII path percent-encoded, as the official vectors do", function()
        local signed = assert(kvs.sign(with{ method = "GET", url = "https://example.amazonaws.com/\xe1\x88\xb4",
                                            body = "<nil>", headers = {}, debug = true }))
        assert.equal("/%E1%88%B4", signed.canonical_request:match("^GET\n([^\n]*)\n"))
        signed = assert(kvs.sign(with{
            url = "https://example.amazonaws.com/caf\xc3\xa9/a b/%7E?\xe1\x88\xb4=caf\xc3\xa9",
                                       debug = true }))
        local path, query = signed.canonical_request:match("^POST\n([^\n]*)\n([^\n]*)\n")
        assert.equal("/caf%C3%A9/a%20b/%257E", path)
        assert.equal("%E1%88%B4=caf%C3%A9", query)
        -- The URL keeps the path as given: the service encodes what it receives,
        -- so sending "%C3%A9" would make it sign "%25C3%25A9".
        local pre = assert(kvs.presign(with{ url = "https://example.amazonaws.com/caf\xc3\xa9", debug = true }))
        assert.equal("https://example.amazonaws.com/caf\xc3\xa9?", pre.url:sub(1, 36))
        assert.equal("/caf%C3%A9", pre.canonical_request:match("^POST\n([^\n]*)\n"))
    end)

    it("signs invalid UTF-8 in a path byte for byte", function()
        local signed = assert(kvs.sign(with{ url = "https://example.amazonaws.com/\xff\xfe", debug = true }))
        assert.equal("/%FF%FE", signed.canonical_request:match("^POST\n([^\n]*)\n"))
    end)

    it("takes a body with NUL bytes and a header value with non-ASCII bytes", function()
        assert(kvs.sign(with{ body = "\0\0\0", headers = { ["X-Name"] = "caf\xc3\xa9" } }))
    end)
end)
