-- The official SigV4 test vectors (both suites, see fixtures/sigv4/SOURCE.md)
-- run through kvs.sign (header mode) and kvs.presign (query mode), compared
-- byte for byte.
local kvs = require "kinesis_video_signaling"
local cjson = require "cjson"
local helpers = require "spec.support.helpers"

local DIR = helpers.FIXTURES .. "/sigv4"
local TIME = 1440938160 -- 2015-08-30T12:36:00Z
local CREDS = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }

-- Not for a normal service: S3-style paths, and a token added after signing.
local SKIPPED = {
    ["post-sts-header-after"] = "token added after signing: a legacy style only some services accept",
}
local function skip_reason(name, ctx)
    if ctx and ctx.normalize == false then return "S3-only: path left unnormalized" end
    return SKIPPED[name]
end

local function list_dir(path)
    local names = {}
    local p = io.popen('ls "' .. path .. '"')
    for name in p:lines() do names[#names + 1] = name end
    p:close()
    return names
end

local function sha256_hex(s)
    return require("kinesis_video_signaling.core").sha256_hex(s)
end

-- "name:value" with HTTP's optional whitespace around the value left out.
local function header_line(name, value)
    return name:lower() .. ":" .. value:match("^%s*(.-)%s*$")
end

-- Header lines of a request text as a sorted list, for set comparison.
local function header_lines_of(text)
    local req = helpers.parse_request(text)
    local lines = {}
    for _, h in ipairs(req.headers) do lines[#lines + 1] = header_line(h[1], h[2]) end
    table.sort(lines)
    return lines, req
end

local function header_lines_of_signed(headers)
    local lines = {}
    for name, value in pairs(headers) do
        if type(value) == "table" then
            for _, v in ipairs(value) do lines[#lines + 1] = header_line(name, v) end
        else
            lines[#lines + 1] = header_line(name, value)
        end
    end
    table.sort(lines)
    return lines
end

-- Query pairs as a set; upstream writes non-ASCII bytes raw where a URL
-- carries them percent-encoded.
local function query_set(target)
    local set = {}
    for pair in (target:match("%?(.*)$") or ""):gmatch("[^&]+") do
        set[#set + 1] = pair:gsub("[\128-\255]", function(c) return string.format("%%%02X", c:byte()) end)
    end
    table.sort(set)
    return set
end

local function context_credentials(ctx)
    return {
        access_key_id = ctx.credentials.access_key_id,
        secret_access_key = ctx.credentials.secret_access_key,
        session_token = ctx.credentials.token,
    }
end

describe("aws-c-auth v4 suite", function()
    for _, name in ipairs(list_dir(DIR .. "/aws-c-auth-v4")) do
        local case = DIR .. "/aws-c-auth-v4/" .. name .. "/"
        local ctx = cjson.decode(helpers.read_file(case .. "context.json"))
        local reason = skip_reason(name, ctx)
        local req = helpers.parse_request(helpers.read_file(case .. "request.txt"))
        local function params(extra_headers)
            local headers = helpers.header_table(req.headers)
            for k, v in pairs(extra_headers or {}) do headers[k] = v end
            return {
                method = req.method, url = "https://example.amazonaws.com" .. req.target,
                headers = headers, body = req.body, region = ctx.region, service = ctx.service,
                credentials = context_credentials(ctx), time = TIME, debug = true,
                expires = ctx.expiration_in_seconds,
            }
        end

        if reason then
            pending(name .. ": " .. reason)
        else
            it(name .. " (header mode)", function()
                local extra = ctx.sign_body and { ["X-Amz-Content-Sha256"] = sha256_hex(req.body) } or nil
                local signed = assert(kvs.sign(params(extra)))
                assert.equal(helpers.read_file(case .. "header-canonical-request.txt"), signed.canonical_request)
                assert.equal(helpers.read_file(case .. "header-string-to-sign.txt"), signed.string_to_sign)
                assert.equal(helpers.read_file(case .. "header-signature.txt"), signed.signature)
                local expected, sreq = header_lines_of(helpers.read_file(case .. "header-signed-request.txt"))
                assert.same(expected, header_lines_of_signed(signed.headers))
                assert.equal(sreq.body, req.body)
            end)

            it(name .. " (query mode)", function()
                local out = assert(kvs.presign(params()))
                assert.equal(helpers.read_file(case .. "query-canonical-request.txt"), out.canonical_request)
                assert.equal(helpers.read_file(case .. "query-string-to-sign.txt"), out.string_to_sign)
                assert.equal(helpers.read_file(case .. "query-signature.txt"), out.signature)
                local sreq = helpers.parse_request(helpers.read_file(case .. "query-signed-request.txt"))
                assert.same(query_set(sreq.target), query_set(out.url))
                assert.equal(sreq.target:match("^[^?]*"), out.url:match("^https://[^/]+([^?]*)"))
            end)
        end
    end
end)

describe("classic aws4_testsuite", function()
    local cases = {}
    for _, name in ipairs(list_dir(DIR .. "/aws4_testsuite")) do
        if name == "normalize-path" or name == "post-sts-token" then
            for _, sub in ipairs(list_dir(DIR .. "/aws4_testsuite/" .. name)) do
                if not sub:match("%.txt$") then cases[#cases + 1] = name .. "/" .. sub end
            end
        elseif name ~= "LICENSE" and name ~= "NOTICE" then
            cases[#cases + 1] = name
        end
    end

    for _, path in ipairs(cases) do
        local name = path:match("[^/]+$")
        local base = DIR .. "/aws4_testsuite/" .. path .. "/" .. name
        local reason = skip_reason(name)
        if reason then
            pending(path .. ": " .. reason)
        else
            it(path, function()
                local req = helpers.parse_request(helpers.read_file(base .. ".req"))
                local creq = helpers.read_file(base .. ".creq")
                local creds = { access_key_id = CREDS.access_key_id, secret_access_key = CREDS.secret_access_key }
                -- The token is a signer input: from the request, else (upstream's
                -- convention for get-vanilla-with-session-token) from the .creq.
                for _, h in ipairs(req.headers) do
                    if h[1]:lower() == "x-amz-security-token" then creds.session_token = h[2] end
                end
                creds.session_token = creds.session_token or creq:match("\nx%-amz%-security%-token:([^\n]+)")
                local host
                for _, h in ipairs(req.headers) do
                    if h[1]:lower() == "host" then host = h[2] end
                end
                local signed = assert(kvs.sign{
                    method = req.method, url = "https://" .. host .. req.target,
                    headers = helpers.header_table(req.headers,
                        { ["x-amz-date"] = true, ["x-amz-security-token"] = true }),
                    body = req.body, region = "us-east-1", service = "service",
                    credentials = creds, time = TIME, debug = true,
                })
                assert.equal(creq, signed.canonical_request)
                assert.equal(helpers.read_file(base .. ".sts"), signed.string_to_sign)
                local authz = helpers.read_file(base .. ".authz")
                assert.equal(authz, signed.headers.Authorization)

                local sreq = helpers.read_file(base .. ".sreq")
                if name == "get-vanilla-with-session-token" then
                    -- Known upstream error (SOURCE.md): this .sreq carries get-vanilla's
                    -- signature. Prove that is the only difference, then use .authz.
                    local vanilla = helpers.read_file(DIR .. "/aws4_testsuite/get-vanilla/get-vanilla.authz")
                    local wrong = vanilla:match("Signature=(%x+)")
                    assert.truthy(sreq:find("Signature=" .. wrong, 1, true))
                    sreq = sreq:gsub("Signature=" .. wrong, "Signature=" .. authz:match("Signature=(%x+)"))
                end
                local expected = header_lines_of(sreq)
                if creds.session_token and not sreq:find("X-Amz-Security-Token", 1, true) then
                    expected[#expected + 1] = "x-amz-security-token:" .. creds.session_token
                    table.sort(expected)
                end
                assert.same(expected, header_lines_of_signed(signed.headers))
            end)
        end
    end
end)

describe("kvs.sign on a Kinesis Video request", function()
    local BODY = '{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123",'
        .. '"ClientId":"viewer-1","Service":"TURN"}'
    local function sign(extra)
        local p = {
            method = "POST",
            url = "https://r-1234abcd.kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config",
            headers = { ["Content-Type"] = "application/json" }, body = BODY,
            region = "us-west-2", service = "kinesisvideo", credentials = CREDS, time = TIME,
        }
        for k, v in pairs(extra or {}) do p[k] = v end
        if p.time == false then p.time = nil end
        return kvs.sign(p)
    end

    it("gives the independently computed signature", function()
        local signed = assert(sign())
        assert.equal("ea7967b70267017f8dbfc26368493ea5c48baf804c811eacdb7bc7d7ed667af0", signed.signature)
        assert.same({
            ["Content-Type"] = "application/json",
            Host = "r-1234abcd.kinesisvideo.us-west-2.amazonaws.com",
            ["X-Amz-Date"] = "20150830T123600Z",
            Authorization = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/kinesisvideo/aws4_request, "
                .. "SignedHeaders=content-type;host;x-amz-date, Signature=" .. signed.signature,
        }, signed.headers)
        assert.equal(signed.headers.Authorization, signed.authorization)
        assert.is_nil(signed.canonical_request)
    end)

    it("never mutates the caller's headers", function()
        local headers = { ["Content-Type"] = "application/json" }
        local signed = assert(sign{ headers = headers })
        assert.same({ ["Content-Type"] = "application/json" }, headers)
        assert.are_not.equal(headers, signed.headers)
    end)

    it("adds the session token and keeps a non-default port in Host", function()
        local creds = { access_key_id = "AKIDEXAMPLE", secret_access_key = CREDS.secret_access_key,
                        session_token = "tok/en+=" }
        local signed = assert(sign{ credentials = creds, url = "http://127.0.0.1:8080/v1/x", debug = true })
        assert.equal("tok/en+=", signed.headers["X-Amz-Security-Token"])
        assert.equal("127.0.0.1:8080", signed.headers.Host)
        assert.matches("SignedHeaders=content%-type;host;x%-amz%-date;x%-amz%-security%-token", signed.authorization)
        local default_port = assert(sign{ url = "https://example.com:443/" })
        assert.equal("example.com", default_port.headers.Host)
    end)

    it("encodes the path as carried: %20 becomes %2520", function()
        local signed = assert(sign{ url = "https://h/a%20b/./c//d/../e", debug = true })
        assert.equal("/a%2520b/c/e", signed.canonical_request:match("^POST\n([^\n]*)"))
    end)

    it("reuses the cached key only for the same secret, date, region and service", function()
        local a = assert(sign()).signature
        local other_secret = { access_key_id = "AKIDEXAMPLE", secret_access_key = "other" }
        local other = assert(sign{ credentials = other_secret }).signature
        local next_day = assert(sign{ time = TIME + 86400 }).signature
        local other_region = assert(sign{ region = "eu-west-1" }).signature
        assert.equal(a, assert(sign()).signature)
        assert.are_not.equal(a, other)
        assert.are_not.equal(a, next_day)
        assert.are_not.equal(a, other_region)
    end)

    it("uses the current time when none is given", function()
        local signed = assert(sign{ time = false })
        assert.equal(os.date("!%Y%m%d", os.time()), signed.headers["X-Amz-Date"]:sub(1, 8))
    end)

    it("presigns with the token and expiry in the query", function()
        local url = assert(kvs.presign{
            method = "GET", url = "wss://v-1234.kinesisvideo.us-west-2.amazonaws.com?X-Amz-ChannelARN=arn%3Aaws",
            region = "us-west-2", service = "kinesisvideo", expires = 300, time = TIME,
            credentials = { access_key_id = "AKID", secret_access_key = "s", session_token = "t/k" },
        })
        assert.matches("^wss://v%-1234%.kinesisvideo%.us%-west%-2%.amazonaws%.com/%?", url)
        for _, p in ipairs{ "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-ChannelARN=arn%3Aaws",
            "X-Amz-Credential=AKID%2F20150830%2Fus-west-2%2Fkinesisvideo%2Faws4_request",
            "X-Amz-Date=20150830T123600Z", "X-Amz-Expires=300", "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=t%2Fk" } do
            assert.truthy(url:find(p, 1, true), p)
        end
        assert.matches("&X%-Amz%-Signature=%x+$", url)
    end)
end)
