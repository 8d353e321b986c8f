-- What WebRTC peers need: cached ICE servers in RTCIceServer form and a
-- presigned wss:// URL for the signaling channel.
local helpers = require "spec.support.helpers"
local cjson = require "cjson"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
-- A token with "/", "+" and "=", which the presigned URL must percent-encode.
local CREDS = helpers.creds("session/token+value=")
local ICE = helpers.ICE_PATH
local DISCOVER = "/getSignalingChannelEndpoint"

describe("webrtc", function()
    local srv, now

    setup(function() srv = replay.start{ lifetime = 300 } end)
    teardown(function() srv:stop() end)
    before_each(function()
        srv:reset()
        now = 1700000000
    end)

    local function client(extra)
        return helpers.client({ endpoint = srv.url, control_endpoint = srv.url, region = "us-west-2",
                                credentials = CREDS, retry_base_delay = 0.01, max_attempts = 1, timeout = 2,
                                clock = function() return now end }, extra)
    end

    describe("ice_servers", function()
        it("returns STUN first, then TURN servers in RTCIceServer form, and their validity", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local servers, err, valid_for = client():ice_servers(ARN, { ClientId = "viewer-1" })
            assert.is_nil(err)
            assert.equal(300, valid_for)
            assert.equal(3, #servers)
            assert.same({ urls = { "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443" } }, servers[1])
            local turn = servers[2]
            assert.equal(3, #turn.urls)
            assert.matches("^turns?:", turn.urls[1])
            assert.is_string(turn.username)
            assert.is_string(turn.credential)
            assert.same({ ChannelARN = ARN, ClientId = "viewer-1" }, cjson.decode(srv:requests()[1].body))
        end)

        it("answers from the cache without calling the endpoint", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local c = client()
            local first = assert(c:ice_servers(ARN))
            now = now + 200
            local second, _, valid_for = c:ice_servers(ARN)
            assert.equal(first, second)
            assert.equal(100, valid_for)
            assert.equal(1, #srv:requests())
        end)

        it("keeps one cache entry per channel, client id, service and username", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local c = client()
            assert(c:ice_servers(ARN))
            assert(c:ice_servers(ARN, { ClientId = "a" }))
            assert(c:ice_servers(ARN, { ClientId = "a", Username = "u" }))
            assert(c:ice_servers{ ChannelARN = ARN, ClientId = "a", Username = "u" })
            assert.equal(3, #srv:requests())
        end)

        it("fetches again when less than refresh_margin of the smallest Ttl remains", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local c = client{ refresh_margin = 60 }
            assert(c:ice_servers(ARN))
            now = now + 239
            assert(c:ice_servers(ARN))
            assert.equal(1, #srv:requests())
            now = now + 2 -- 59 s left
            local _, _, valid_for = c:ice_servers(ARN)
            assert.equal(2, #srv:requests())
            assert.equal(300, valid_for)
        end)

        it("returns the cached set when a refresh fails while it is still valid, and the error after", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" }, { fixture = "error_503" } } }
            local c = client()
            local first = assert(c:ice_servers(ARN))
            now = now + 280
            local again, err, valid_for = c:ice_servers(ARN)
            assert.is_nil(err)
            assert.equal(first, again)
            assert.equal(20, valid_for)
            now = now + 30
            local none
            none, err = c:ice_servers(ARN)
            assert.is_nil(none)
            assert.equal(503, err.status)
        end)

        it("names the STUN host with the China DNS suffix in cn regions", function()
            srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local servers = assert(client{ region = false }:ice_servers(
                "arn:aws-cn:kinesisvideo:cn-north-1:123456789012:channel/demo/1"))
            assert.same({ "stun:stun.kinesisvideo.cn-north-1.amazonaws.com.cn:443" }, servers[1].urls)
        end)

        it("validates like get_ice_server_config and sends nothing on bad input", function()
            local servers, err = client():ice_servers(ARN, { ClientId = "bad id" })
            assert.is_nil(servers)
            assert.equal("ParamValidationError", err.code)
            assert.equal(0, #srv:requests())
        end)
    end)

    describe("presign_connect", function()
        -- HMAC-SHA256 by the openssl command line: a second implementation,
        -- independent of the signer under test.
        local function hmac_hex(key, key_is_hex, msg)
            local opt = key_is_hex and ("hexkey:" .. key) or ("key:" .. key)
            local p = assert(io.popen(("printf '%%s' '%s' | openssl dgst -sha256 -mac HMAC -macopt '%s'"):format(
                msg, opt)))
            local out = p:read("a")
            p:close()
            return assert(out:match("(%x+)%s*$"))
        end

        local function sha256_hex(s)
            local p = assert(io.popen(("printf '%%s' '%s' | openssl dgst -sha256"):format(s)))
            local out = p:read("a")
            p:close()
            return assert(out:match("(%x+)%s*$"))
        end

        -- Rebuilds the query-mode signature of a presigned URL from the rules.
        local function expected_signature(url, secret)
            local host, query = url:match("^wss://([^/]+)/%?(.*)$")
            local pairs_, signature = {}, nil
            for pair in query:gmatch("[^&]+") do
                if pair:match("^X%-Amz%-Signature=") then
                    signature = pair:match("=(.*)")
                else
                    pairs_[#pairs_ + 1] = pair
                end
            end
            table.sort(pairs_)
            local params = {}
            for _, pair in ipairs(pairs_) do params[pair:match("^([^=]+)")] = pair:match("=(.*)$") end
            local creq = table.concat({ "GET", "/", table.concat(pairs_, "&"), "host:" .. host, "", "host",
                sha256_hex("") }, "\n")
            local date = params["X-Amz-Date"]
            local scope = params["X-Amz-Credential"]:gsub("%%2F", "/"):match("^[^/]+/(.*)$")
            local sts = table.concat({ "AWS4-HMAC-SHA256", date, scope, sha256_hex(creq) }, "\n")
            local k = hmac_hex("AWS4" .. secret, false, date:sub(1, 8))
            for part in scope:gmatch("[^/]+") do
                if not part:match("^%d+$") then k = hmac_hex(k, true, part) end
            end
            return hmac_hex(k, true, sts), signature, params
        end

        it("presigns the discovered WSS endpoint for a viewer, verified independently", function()
            srv:script{ [DISCOVER] = { { fixture = "get_signaling_channel_endpoint_ok" } } }
            local url = assert(client():presign_connect{ ChannelARN = ARN, ClientId = "viewer-1", expires = 300 })
            assert.matches("^wss://127%.0%.0%.1:1/%?", url)
            local expected, actual, params = expected_signature(url, CREDS.secret_access_key)
            assert.equal(expected, actual)
            assert.equal("arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A123456789012%3Achannel%2Fdemo-channel%2F1234567890123",
                params["X-Amz-ChannelARN"])
            assert.equal("viewer-1", params["X-Amz-ClientId"])
            assert.equal("300", params["X-Amz-Expires"])
            assert.equal("host", params["X-Amz-SignedHeaders"])
            assert.equal("AWS4-HMAC-SHA256", params["X-Amz-Algorithm"])
            assert.equal("session%2Ftoken%2Bvalue%3D", params["X-Amz-Security-Token"])
            assert.equal("AKIDEXAMPLE%2F20231114%2Fus-west-2%2Fkinesisvideo%2Faws4_request", params["X-Amz-Credential"])
            local discovery = cjson.decode(srv:requests()[1].body)
            assert.same({ Protocols = { "WSS" }, Role = "VIEWER" }, discovery.SingleMasterChannelEndpointConfiguration)
        end)

        it("leaves out the client id for a master and discovers as MASTER", function()
            srv:script{ [DISCOVER] = { { fixture = "get_signaling_channel_endpoint_ok" } } }
            local url = assert(client():presign_connect{ ChannelARN = ARN, role = "MASTER" })
            assert.is_nil(url:find("X-Amz-ClientId", 1, true))
            local expected, actual = expected_signature(url, CREDS.secret_access_key)
            assert.equal(expected, actual)
            assert.equal("MASTER", cjson.decode(srv:requests()[1].body).SingleMasterChannelEndpointConfiguration.Role)
        end)

        it("refuses bad input before anything is sent", function()
            local c = client()
            for _, case in ipairs{
                { { ChannelARN = ARN }, "ClientId: required for a VIEWER" },
                { { ChannelARN = ARN, role = "ADMIN", ClientId = "a" }, "role: must be" },
                { { ChannelARN = "nope", ClientId = "a" }, "ChannelARN: must match" },
                { { ChannelARN = ARN, ClientId = "a", expires = 0 }, "expires: must be" },
                { { ChannelARN = ARN, ClientId = "a", Extra = 1 }, "Extra: unknown member" },
            } do
                local url, err = c:presign_connect(case[1])
                assert.is_nil(url)
                assert.equal("ParamValidationError", err.code)
                assert.truthy(err.message:find(case[2], 1, true), err.message)
            end
            assert.equal(0, #srv:requests())
        end)
    end)
end)
