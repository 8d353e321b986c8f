-- The example page in a real browser: headless Chromium loads it from the
-- example nginx (backed by the recorded endpoint); the page fetches
-- /ice-servers and /signaling-url and creates an RTCPeerConnection, which
-- Chromium refuses for bad URL schemes or TURN servers without credentials.
local cjson = require "cjson"
local helpers = require "spec.support.helpers"
local nginx = require "spec.support.nginx"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
local CREDS = helpers.creds()
local CHROMIUM = os.getenv("KVS_CHROMIUM") or "/usr/bin/chromium"

local function encode_uri(s)
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- The page's #result text after it has run, from Chromium's final DOM.
local function run_page(port, channel, user_data_dir)
    local url = ("http://127.0.0.1:%d/?channel=%s&client=viewer-1"):format(port, encode_uri(channel))
    local cmd = table.concat({
        "timeout 60", CHROMIUM, "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run",
        "--disable-background-networking --disable-component-update --disable-sync",
        "--user-data-dir=" .. user_data_dir, "--virtual-time-budget=5000 --dump-dom", "'" .. url .. "'",
        "2>/dev/null",
    }, " ")
    local p = assert(io.popen(cmd))
    local dom = p:read("a")
    p:close()
    local text = dom:match('<pre id="result">(.-)</pre>')
    assert(text, "the page did not render a result: " .. dom:sub(1, 300))
    return cjson.decode((text:gsub("&quot;", '"'):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&")))
end

describe("browser", function()
    local srv, ng, profile

    setup(function()
        assert(io.open(CHROMIUM), CHROMIUM .. " is missing (make deps installs chromium)"):close()
        profile = os.tmpname()
        os.remove(profile)
        srv = replay.start{ lifetime = 180 }
        ng = nginx.start_example{ AWS_ACCESS_KEY_ID = CREDS.access_key_id,
                                  AWS_SECRET_ACCESS_KEY = CREDS.secret_access_key,
                                  AWS_ENDPOINT_URL_KINESIS_VIDEO = srv.url }
    end)
    teardown(function()
        if ng then ng:stop() end
        if srv then srv:stop() end
        os.execute("rm -rf " .. profile)
    end)

    it("creates an RTCPeerConnection with the served ICE servers and parses the signaling URL", function()
        srv:script{
            ["/getSignalingChannelEndpoint"] = { { fixture = "get_signaling_channel_endpoint_ok" } },
            ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok" } },
        }
        local result = run_page(ng.port, ARN, profile)
        assert.same({
            ok = true, iceServers = 3, validFor = 300, stunFirst = true, turnUrls = 6,
            signalingProtocol = "wss:", channelARN = ARN, clientId = "viewer-1",
            algorithm = "AWS4-HMAC-SHA256", hasSignature = true,
        }, result)
    end)

    it("reports Chromium's refusal of TURN servers without credentials", function()
        -- The same answer without Username and Password: the browser must refuse it.
        local bare = { IceServerList = { { Uris = { "turn:203.0.113.1:443?transport=udp" }, Ttl = 300 } } }
        srv:script{
            ["/getSignalingChannelEndpoint"] = { { fixture = "get_signaling_channel_endpoint_ok" } },
            ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok", body_json = bare } },
        }
        local result = run_page(ng.port, "arn:aws:kinesisvideo:us-west-2:123456789012:channel/other/1", profile)
        assert.is_false(result.ok)
        assert.matches("InvalidAccessError", result.error)
    end)
end)
