-- The two operations over real HTTP against the replay server: the request
-- that goes out, the tables and errors that come back, retries, keep-alive,
-- timeouts, clock skew, discovery and TLS.
local kvs = require "kinesis_video_signaling"
local cjson = require "cjson"
local helpers = require "spec.support.helpers"
local replay = require "spec.support.replay"
local core = require "kinesis_video_signaling.core"

local ARN = helpers.ARN
local CREDS = helpers.creds(helpers.SESSION_TOKEN)
local ICE = helpers.ICE_PATH
local OFFER = helpers.OFFER_PATH
local unpack = table.unpack or unpack
local PAYLOAD = helpers.PAYLOAD

describe("operations", function()
    local srv

    setup(function() srv = replay.start{ lifetime = 300 } end)
    teardown(function() srv:stop() end)
    before_each(function() srv:reset() end)

    local function client(extra)
        return helpers.client({ endpoint = srv.url, region = "us-west-2", credentials = CREDS,
                                retry_base_delay = 0.01, timeout = 2, connect_timeout = 1 }, extra)
    end

    local function script(path, ...)
        local list = {}
        for i, f in ipairs{ ... } do list[i] = type(f) == "string" and { fixture = f } or f end
        srv:script{ [path] = list }
    end

    describe("GetIceServerConfig", function()
        it("sends a signed JSON POST and returns every member the service sent", function()
            script(ICE, "get_ice_server_config_ok")
            local out, err = client():get_ice_server_config{ ChannelARN = ARN, ClientId = "viewer-1",
                                                              Service = "TURN", Username = "alice" }
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
            local first = out.IceServerList[1]
            assert.equal(300, first.Ttl)
            assert.equal(3, #first.Uris)
            assert.matches("^turns?:", first.Uris[1])
            assert.is_string(first.Username)
            assert.is_string(first.Password)
            assert.equal(2, out.ExtraUnmodelledMember.Count)

            local log = srv:requests()
            assert.equal(1, #log)
            local req = log[1]
            assert.equal("POST", req.method)
            assert.equal(ICE, req.target)
            assert.equal("application/json", helpers.header(req, "content-type"))
            assert.equal(CREDS.session_token, helpers.header(req, "x-amz-security-token"))
            assert.same({ ChannelARN = ARN, ClientId = "viewer-1", Service = "TURN", Username = "alice" },
                cjson.decode(req.body))
            local expected, actual = helpers.recompute_signature(req, srv.url, CREDS, "us-west-2")
            assert.equal(expected, actual)
            assert.matches("Credential=AKIDEXAMPLE/%d+/us%-west%-2/kinesisvideo/aws4_request",
                helpers.header(req, "authorization"))
        end)

        it("takes the positional form; positional arguments win over params", function()
            script(ICE, "get_ice_server_config_ok")
            local params = { ChannelARN = "arn:aws:kinesisvideo:us-west-2:1:channel/other/1", ClientId = "c1" }
            assert(client():get_ice_server_config(ARN, params))
            local body = cjson.decode(srv:requests()[1].body)
            assert.same({ ChannelARN = ARN, ClientId = "c1" }, body)
            assert.same({ ChannelARN = "arn:aws:kinesisvideo:us-west-2:1:channel/other/1", ClientId = "c1" }, params)
        end)

        it("signs with the region inside the ARN when the client has none", function()
            script(ICE, "get_ice_server_config_ok")
            local arn = "arn:aws-cn:kinesisvideo:cn-north-1:123456789012:channel/demo/1"
            assert(client{ region = false }:get_ice_server_config(arn))
            local req = srv:requests()[1]
            assert.matches("/cn%-north%-1/kinesisvideo/", helpers.header(req, "authorization"))
            local expected, actual = helpers.recompute_signature(req, srv.url, CREDS, "cn-north-1")
            assert.equal(expected, actual)
        end)

        it("is reachable from the module with a default client from the environment", function()
            script(ICE, "get_ice_server_config_ok")
            helpers.with_env({ AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING = srv.url, AWS_ACCESS_KEY_ID = "AKIDENV",
                               AWS_SECRET_ACCESS_KEY = "envsecret", AWS_SESSION_TOKEN = false,
                               AWS_REGION = "eu-west-1" }, function()
                package.loaded["kinesis_video_signaling"] = nil
                local fresh = require "kinesis_video_signaling"
                local out = assert(fresh.get_ice_server_config(ARN))
                assert.equal(2, #out.IceServerList)
            end)
            assert.matches("Credential=AKIDENV/%d+/us%-west%-2/", helpers.header(srv:requests()[1], "authorization"))
        end)
    end)

    describe("SendAlexaOfferToMaster", function()
        it("sends the offer and returns the answer, in both forms", function()
            script(OFFER, "send_alexa_offer_to_master_ok")
            local c = client()
            local a = assert(c:send_alexa_offer_to_master(ARN, PAYLOAD, "sender-1"))
            local b = assert(c:send_alexa_offer_to_master{ ChannelARN = ARN, MessagePayload = PAYLOAD,
                                                           SenderClientId = "sender-1" })
            assert.is_string(a.Answer)
            assert.equal(a.Answer, b.Answer)
            local log = srv:requests()
            assert.equal(OFFER, log[1].target)
            assert.same({ ChannelARN = ARN, MessagePayload = PAYLOAD, SenderClientId = "sender-1" },
                cjson.decode(log[2].body))
        end)
    end)

    describe("validation", function()
        local cases = {
            { "missing ARN", "get_ice_server_config", { {} }, "ChannelARN: required" },
            { "ARN pattern", "get_ice_server_config", { "arn:aws:s3:::bucket" }, "ChannelARN: must match" },
            { "ARN type", "get_ice_server_config", { { ChannelARN = 42 } }, "ChannelARN: must be a string" },
            { "ClientId pattern", "get_ice_server_config", { ARN, { ClientId = "a b" } }, "ClientId: must match" },
            { "ClientId length", "get_ice_server_config", { ARN, { ClientId = ("x"):rep(257) } },
              "ClientId: length must be between 1 and 256" },
            { "empty Username", "get_ice_server_config", { ARN, { Username = "" } }, "Username: length" },
            { "Service enum", "get_ice_server_config", { ARN, { Service = "STUN" } }, "Service: must be one of TURN" },
            { "unknown member", "get_ice_server_config", { ARN, { Region = "x" } }, "Region: unknown member" },
            { "extra arguments", "get_ice_server_config", { ARN, {}, "extra" }, "arguments: GetIceServerConfig" },
            { "params type", "get_ice_server_config", { ARN, "x" }, "params: must be a table" },
            { "payload pattern", "send_alexa_offer_to_master", { ARN, "not base64!", "s" },
              "MessagePayload: must match" },
            { "payload length", "send_alexa_offer_to_master", { ARN, ("A"):rep(10001), "s" },
              "MessagePayload: length must be between 1 and 10000" },
            { "missing sender", "send_alexa_offer_to_master", { ARN, PAYLOAD }, "SenderClientId: required" },
            { "NUL in ClientId", "get_ice_server_config", { ARN, { ClientId = "a\0b" } }, "ClientId: must match" },
        }
        for _, case in ipairs(cases) do
            it(case[1] .. " is refused before anything is sent", function()
                local c = client()
                local out, err = c[case[2]](c, unpack(case[3], 1, #case[3]))
                assert.is_nil(out)
                assert.equal("ParamValidationError", err.code)
                assert.truthy(err.message:find(case[4], 1, true), err.message)
                assert.equal(0, #srv:requests())
            end)
        end

        it("accepts channels in every partition", function()
            script(ICE, "get_ice_server_config_ok")
            for _, arn in ipairs{ "arn:aws-us-gov:kinesisvideo:us-gov-west-1:1:channel/a/1",
                                  "arn:aws-cn:kinesisvideo:cn-northwest-1:1:channel/b_c.d-e/2" } do
                assert(client():get_ice_server_config(arn))
            end
        end)

        it("refuses unknown and ill-typed options", function()
            local c, err = kvs.new{ timout = 3 }
            assert.is_nil(c)
            assert.matches("timout: unknown option", err.message)
            c, err = kvs.new{ max_attempts = 0 }
            assert.is_nil(c)
            assert.matches("max_attempts: must be", err.message)
        end)
    end)

    describe("errors", function()
        local modelled = {
            { "error_resource_not_found", "ResourceNotFoundException", 404 },
            { "error_client_limit_exceeded", "ClientLimitExceededException", 400 },
            { "error_invalid_argument", "InvalidArgumentException", 400 },
            { "error_invalid_client", "InvalidClientException", 400 },
            { "error_not_authorized", "NotAuthorizedException", 401 },
            { "error_session_expired", "SessionExpiredException", 400 },
            { "error_type_in_body_only", "ResourceNotFoundException", 400 },
            { "error_code_in_body_only", nil, nil },
        }
        for _, case in ipairs(modelled) do
            it(case[1] .. " gives its AWS code", function()
                script(ICE, case[1])
                local out, err = client{ max_attempts = 1 }:get_ice_server_config(ARN)
                assert.is_nil(out)
                if case[2] then assert.equal(case[2], err.code) end
                if case[3] then assert.equal(case[3], err.status) end
                assert.is_string(err.message)
                assert.is_truthy(tostring(err):find(err.code .. ": " .. err.message, 1, true))
            end)
        end

        it("reads like CODE: message (HTTP status, request id id)", function()
            script(ICE, "error_resource_not_found")
            local _, err = client():get_ice_server_config(ARN)
            assert.is_string(err.request_id)
            assert.equal(("ResourceNotFoundException: %s (HTTP 404, request id %s)"):format(err.message,
                err.request_id), tostring(err))
            assert.is_false(err.retryable)
            assert.equal(1, #srv:requests()) -- no retry for a 4xx
        end)

        it("gives HttpError for a proxy's HTML 502, retried up to max_attempts", function()
            script(ICE, "html_502")
            local _, err = client():get_ice_server_config(ARN)
            assert.equal("HttpError", err.code)
            assert.equal(502, err.status)
            assert.is_true(err.retryable)
            assert.equal(3, #srv:requests())
        end)

        for _, f in ipairs{ "truncated_json_200", "empty_200", "wrong_types_200", "ttl_string_200", "body_over_cap" } do
            it(f .. " gives InvalidResponseError", function()
                script(ICE, f)
                local out, err = client():get_ice_server_config(ARN)
                assert.is_nil(out)
                assert.equal("InvalidResponseError", err.code)
                assert.equal(1, #srv:requests())
            end)
        end

        it("scrubs our secret and session token from a service message quoting the request", function()
            script(ICE, "signature_mismatch_403")
            local _, err = client():get_ice_server_config(ARN)
            assert.equal("InvalidSignatureException", err.code)
            assert.is_nil(err.message:find(CREDS.session_token, 1, true))
            assert.is_nil(tostring(err):find(CREDS.session_token, 1, true))
            assert.truthy(err.message:find("<redacted>", 1, true))
        end)
    end)

    describe("retries", function()
        it("retries throttling and 5xx, then succeeds", function()
            script(ICE, "throttling_429", "error_503", "get_ice_server_config_ok")
            local out, err = client():get_ice_server_config(ARN)
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
            assert.equal(3, #srv:requests())
        end)

        it("stops at max_attempts", function()
            script(ICE, "error_503")
            local _, err = client{ max_attempts = 4 }:get_ice_server_config(ARN)
            assert.equal(503, err.status)
            assert.is_true(err.retryable)
            assert.equal(4, err.attempts)
            assert.equal(4, #srv:requests())
        end)

        it("retries ClientLimitExceededException", function()
            script(ICE, "error_client_limit_exceeded", "get_ice_server_config_ok")
            assert(client():get_ice_server_config(ARN))
            assert.equal(2, #srv:requests())
        end)
    end)

    describe("transport", function()
        it("keeps one connection alive across calls", function()
            script(ICE, "get_ice_server_config_ok")
            local c = client()
            for _ = 1, 5 do assert(c:get_ice_server_config(ARN)) end
            local log = srv:requests()
            assert.equal(5, #log)
            for i = 2, 5 do assert.equal(log[1].connection, log[i].connection) end
        end)

        it("returns TimeoutError within the timeout when the server stalls", function()
            script(ICE, { fixture = "get_ice_server_config_ok", fault = "stall_before_headers", stall = 10 })
            local t0 = core.monotonic()
            local _, err = client{ timeout = 0.5, max_attempts = 1 }:get_ice_server_config(ARN)
            local elapsed = core.monotonic() - t0
            assert.equal("TimeoutError", err.code)
            assert.is_true(err.retryable)
            assert.is_true(elapsed < 1.5, "took " .. elapsed)
        end)

        it("returns NetworkError when the connection is refused", function()
            local _, err = client{ endpoint = "http://127.0.0.1:1", max_attempts = 2 }:get_ice_server_config(ARN)
            assert.equal("NetworkError", err.code)
            assert.equal(2, err.attempts)
        end)

        it("returns NetworkError when the server drops the connection mid-body", function()
            script(ICE, { fixture = "get_ice_server_config_ok", fault = "close_mid_body" })
            local _, err = client{ max_attempts = 1 }:get_ice_server_config(ARN)
            assert.equal("NetworkError", err.code)
        end)
    end)

    describe("clock skew", function()
        it("re-signs with the server's time once and keeps the offset", function()
            script(ICE, "signature_expired_403", "get_ice_server_config_ok")
            local c = client{ clock = function() return core.now() - 3600 end, max_attempts = 1 }
            assert(c:get_ice_server_config(ARN))
            local log = srv:requests()
            assert.equal(2, #log)
            local first = helpers.amz_date_to_unix(helpers.header(log[1], "x-amz-date"))
            local second = helpers.amz_date_to_unix(helpers.header(log[2], "x-amz-date"))
            assert.is_true(math.abs(second - os.time()) < 5)
            assert.is_true(math.abs(second - first - 3600) < 5)
            assert(c:get_ice_server_config(ARN))
            local third = helpers.amz_date_to_unix(helpers.header(srv:requests()[3], "x-amz-date"))
            assert.is_true(math.abs(third - os.time()) < 5)
        end)

        it("does not loop when the skew error persists", function()
            script(ICE, "signature_expired_403")
            local _, err = client{ clock = function() return core.now() - 3600 end }:get_ice_server_config(ARN)
            assert.equal("InvalidSignatureException", err.code)
            assert.equal(2, #srv:requests())
        end)
    end)

    describe("endpoint discovery", function()
        local DISCOVER = "/getSignalingChannelEndpoint"

        it("discovers the HTTPS endpoint once per channel and role", function()
            srv:script{ [DISCOVER] = { { fixture = "get_signaling_channel_endpoint_ok" } },
                        [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local c = client{ endpoint = false, control_endpoint = srv.url, role = "MASTER" }
            assert(c:get_ice_server_config(ARN))
            assert(c:get_ice_server_config(ARN))
            local log = srv:requests()
            assert.equal(3, #log)
            assert.equal(DISCOVER, log[1].target)
            assert.same({ ChannelARN = ARN, SingleMasterChannelEndpointConfiguration = {
                Protocols = { "HTTPS" }, Role = "MASTER" } }, cjson.decode(log[1].body))
            local expected, actual = helpers.recompute_signature(log[1], srv.url, CREDS, "us-west-2")
            assert.equal(expected, actual)
            assert.equal(ICE, log[2].target)
            assert.equal(ICE, log[3].target)
        end)

        it("forgets the endpoint after ResourceNotFound", function()
            srv:script{ [DISCOVER] = { { fixture = "get_signaling_channel_endpoint_ok" } },
                        [ICE] = { { fixture = "error_resource_not_found" }, { fixture = "get_ice_server_config_ok" } } }
            local c = client{ endpoint = false, control_endpoint = srv.url }
            assert.is_nil(c:get_ice_server_config(ARN))
            assert(c:get_ice_server_config(ARN))
            local targets = {}
            for i, r in ipairs(srv:requests()) do targets[i] = r.target end
            assert.same({ DISCOVER, ICE, DISCOVER, ICE }, targets)
        end)

        it("uses AWS_ENDPOINT_URL_KINESIS_VIDEO for the control plane", function()
            srv:script{ [DISCOVER] = { { fixture = "get_signaling_channel_endpoint_ok" } },
                        [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            helpers.with_env({ AWS_ENDPOINT_URL_KINESIS_VIDEO = srv.url, AWS_ENDPOINT_URL = false,
                               AWS_ENDPOINT_URL_KINESIS_VIDEO_SIGNALING = false }, function()
                assert(client{ endpoint = false }:get_ice_server_config(ARN))
            end)
            assert.equal(2, #srv:requests())
        end)

        it("names the default control plane from the region's DNS suffix", function()
            local endpoints = require "kinesis_video_signaling.endpoints"
            helpers.with_env({ AWS_ENDPOINT_URL_KINESIS_VIDEO = false }, function()
                assert.equal("https://kinesisvideo.cn-north-1.amazonaws.com.cn", endpoints.control(nil, "cn-north-1"))
                assert.equal("https://kinesisvideo.us-west-2.amazonaws.com", endpoints.control(nil, "us-west-2"))
            end)
        end)
    end)
end)

describe("TLS", function()
    local srv, cert, dir

    setup(function()
        dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p " .. dir))
        local key
        cert, key = replay.make_cert(dir)
        srv = replay.start{ tls = { cert = cert, key = key }, lifetime = 120 }
        srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
    end)
    teardown(function()
        srv:stop()
        os.execute("rm -rf " .. dir)
    end)

    local function call(extra)
        local opts = { endpoint = srv.url, region = "us-west-2", credentials = CREDS, max_attempts = 1, timeout = 3 }
        for k, v in pairs(extra or {}) do opts[k] = v end
        return assert(kvs.new(opts)):get_ice_server_config(ARN)
    end

    it("refuses a self-signed certificate by default", function()
        local out, err = call()
        assert.is_nil(out)
        assert.equal("NetworkError", err.code)
    end)

    it("accepts it with ca_file", function()
        local out, err = call{ ca_file = cert }
        assert.is_nil(err)
        assert.equal(2, #out.IceServerList)
    end)

    it("accepts it with verify_tls = false, only when asked", function()
        assert(call{ verify_tls = false })
    end)
end)
