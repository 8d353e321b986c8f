-- The fault matrix: recorded server misbehaviours the operations spec
-- (03) does not already cover. Each gives a documented err code, or
-- success, within its time bound, with no crash, and the same client works
-- again afterwards.
local helpers = require "spec.support.helpers"
local core = require "kinesis_video_signaling.core"
local replay = require "spec.support.replay"

local ARN = helpers.ARN
local CREDS = helpers.creds(helpers.SESSION_TOKEN)
local ICE = helpers.ICE_PATH
local MAX_BODY = require("kinesis_video_signaling.transport").MAX_BODY

describe("fault matrix", function()
    local srv

    setup(function() srv = replay.start{ lifetime = 300 } end)
    teardown(function() srv:stop() end)
    before_each(function() srv:reset() end)

    local function client(extra)
        return helpers.client({ endpoint = srv.url, region = "us-west-2", credentials = CREDS,
                                retry_base_delay = 0.01, timeout = 2, connect_timeout = 1, max_attempts = 1 }, extra)
    end

    -- Scripts `responses` for ICE, then a good answer, so a second call on
    -- the same client shows it recovered.
    local function script(...)
        local list = {}
        for i, f in ipairs{ ... } do list[i] = type(f) == "string" and { fixture = f } or f end
        list[#list + 1] = { fixture = "get_ice_server_config_ok" }
        srv:script{ [ICE] = list }
    end

    -- Runs one call; returns out, err, elapsed seconds.
    local function timed(c)
        local t0 = core.monotonic()
        local out, err = c:get_ice_server_config(ARN)
        return out, err, core.monotonic() - t0
    end

    local function assert_error(err, code, elapsed, bound)
        assert.is_table(err, "expected an error")
        assert.equal(code, err.code, tostring(err))
        assert.is_string(err.message)
        assert.is_nil(err.message:find("[%z\1-\31\127]"), "message is not one printable line")
        assert.is_true(elapsed < bound, ("took %.3f s, bound %.3f s"):format(elapsed, bound))
    end

    local function assert_recovers(c)
        local out, err = c:get_ice_server_config(ARN)
        assert.is_nil(err)
        assert.equal(2, #out.IceServerList)
    end

    describe("network", function()
        it("DNS failure (a name under .invalid) gives NetworkError without waiting for the timeout", function()
            local c = client{ endpoint = "http://kvs-test.invalid:1", timeout = 5, connect_timeout = 2 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            -- A resolver that cannot be reached at all makes libcurl give up
            -- at connect_timeout instead: TimeoutError about resolving.
            if err.code == "TimeoutError" then
                assert.matches("[Rr]esol", err.message)
                assert_error(err, "TimeoutError", elapsed, 2 + 1)
            else
                assert_error(err, "NetworkError", elapsed, 1)
                assert.matches("resolve", err.message)
            end
            assert.is_true(err.retryable)
            assert.equal(1, err.attempts)
        end)

        it("DNS failure is retried up to max_attempts, then reported", function()
            local c = client{ endpoint = "http://kvs-test.invalid:1", max_attempts = 3, timeout = 5,
                              connect_timeout = 1 }
            local _, err, elapsed = timed(c)
            assert.is_true(err.code == "NetworkError" or err.code == "TimeoutError", tostring(err))
            assert.equal(3, err.attempts)
            assert.is_true(elapsed < 3 * (1 + 0.5), "took " .. elapsed)
        end)

        it("the server closing before any header gives NetworkError", function()
            script{ fixture = "get_ice_server_config_ok", fault = "close_before_headers" }
            local c = client()
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
            assert.is_true(err.retryable)
            assert_recovers(c)
        end)

        it("the server closing mid-headers gives NetworkError", function()
            script{ fixture = "get_ice_server_config_ok", fault = "close_mid_headers" }
            local c = client()
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
            assert.is_true(err.retryable)
            assert_recovers(c)
            assert.equal(2, #srv:requests())
        end)

        it("the server closing mid-headers every time is retried max_attempts times", function()
            srv:script({}, { fixture = "get_ice_server_config_ok", fault = "close_mid_headers" })
            local _, err, elapsed = timed(client{ max_attempts = 3 })
            assert_error(err, "NetworkError", elapsed, 2)
            assert.equal(3, err.attempts)
            assert.equal(3, #srv:requests())
        end)

        it("the server stalling mid-body gives TimeoutError within the timeout", function()
            script{ fixture = "get_ice_server_config_ok", fault = "stall_mid_body", stall = 10 }
            local c = client{ timeout = 0.5 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "TimeoutError", elapsed, 0.5 + 1)
            assert.is_true(elapsed >= 0.45, "gave up before the timeout: " .. elapsed)
            assert.is_true(err.retryable)
            assert_recovers(c)
        end)

        it("a chunked body stalling mid-way gives TimeoutError within the timeout", function()
            script{ fixture = "get_ice_server_config_ok", fault = "stall_mid_body", stall = 10, chunked = true,
                    chunk_size = 64 }
            local out, err, elapsed = timed(client{ timeout = 0.5 })
            assert.is_nil(out)
            assert_error(err, "TimeoutError", elapsed, 0.5 + 1)
        end)

        it("a slow answer within the timeout succeeds", function()
            script({ fixture = "get_ice_server_config_ok", delay = 0.3 })
            local out, err = timed(client{ timeout = 2 })
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
        end)

        it("a body shorter than its Content-Length gives NetworkError", function()
            script{ raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                          .. "{\"IceServer" }
            local c = client()
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
            assert_recovers(c)
        end)

        it("an answer that is not HTTP gives NetworkError", function()
            script{ raw = "SSH-2.0-OpenSSH_9.2\r\n\r\n" }
            local c = client()
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
            assert_recovers(c)
        end)
    end)

    describe("body over the cap", function()
        -- A body that would take far longer than the timeout to read whole:
        -- an InvalidResponseError well within the timeout shows reading
        -- stopped at the cap.
        local HUGE = 1024 * 1024 * 1024

        it("announced by Content-Length: refused before the body is read", function()
            script{ fixture = "get_ice_server_config_ok", body_repeat = { text = "a", count = HUGE } }
            local c = client{ timeout = 10 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "InvalidResponseError", elapsed, 1.5)
            assert.matches("too large", err.message)
            assert.is_false(err.retryable)
            assert.equal(1, #srv:requests())
            assert_recovers(c)
        end)

        it("chunked, with no length announced: reading stops at the cap", function()
            script{ fixture = "get_ice_server_config_ok", body_repeat = { text = "a", count = HUGE }, chunked = true,
                    chunk_size = 65536 }
            local c = client{ timeout = 10 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "InvalidResponseError", elapsed, 2)
            assert.matches(tostring(MAX_BODY), err.message)
            assert_recovers(c)
        end)

        it("delimited by the connection closing: reading stops at the cap", function()
            script{ fixture = "get_ice_server_config_ok", body_repeat = { text = "b", count = HUGE },
                    no_content_length = true }
            local c = client{ timeout = 10 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "InvalidResponseError", elapsed, 2)
            assert_recovers(c)
        end)

        it("a body of exactly the cap is read (the cap is not off by one)", function()
            -- Blanks are not JSON: the body is read whole, then found not to
            -- be JSON, rather than refused as too large.
            script{ fixture = "get_ice_server_config_ok", body_repeat = { text = " ", count = MAX_BODY } }
            local _, err, elapsed = timed(client{ timeout = 10 })
            assert_error(err, "InvalidResponseError", elapsed, 3)
            assert.is_nil(err.message:find("too large", 1, true), err.message)
        end)
    end)

    describe("service answers", function()
        it("503 every time stops at max_attempts with backoff between tries", function()
            srv:script({}, { fixture = "error_503" })
            local c = client{ max_attempts = 5, retry_base_delay = 0.02 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            -- the backoff sleeps at most base * (1 + 2 + 4 + 8)
            assert_error(err, "ServiceUnavailableException", elapsed, 0.02 * 15 + 2)
            assert.equal(503, err.status)
            assert.equal(5, err.attempts)
            assert.is_true(err.retryable)
            assert.is_string(err.request_id)
            assert.equal(5, #srv:requests())
        end)

        it("IceServerList as a string gives InvalidResponseError naming it, not retried", function()
            script("wrong_types_200")
            local c = client{ max_attempts = 3 }
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "InvalidResponseError", elapsed, 1)
            assert.matches("IceServerList is not a list", err.message, 1, true)
            assert.equal(200, err.status)
            assert.is_string(err.request_id)
            assert.equal(1, #srv:requests())
            assert_recovers(c)
        end)

        it("Ttl as a string gives InvalidResponseError naming the member", function()
            script("ttl_string_200")
            local out, err, elapsed = timed(client{ max_attempts = 3 })
            assert.is_nil(out)
            assert_error(err, "InvalidResponseError", elapsed, 1)
            assert.matches("IceServerList[1].Ttl is a string, not a number", err.message, 1, true)
            assert.equal(1, #srv:requests())
        end)

        it("a huge response header gives NetworkError (headers over 64 KiB are refused)", function()
            script("huge_header_200")
            local c = client()
            local out, err, elapsed = timed(c)
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
            assert.matches("headers too large", err.message)
            assert_recovers(c)
        end)

        it("many small headers adding up past 64 KiB are refused the same way", function()
            local many = {}
            for i = 1, 2000 do many[i] = { "X-Filler-" .. i, ("v"):rep(40) } end
            script{ fixture = "get_ice_server_config_ok", add_headers = many }
            local out, err, elapsed = timed(client())
            assert.is_nil(out)
            assert_error(err, "NetworkError", elapsed, 1)
        end)

        it("a large header under the limit is accepted", function()
            script{ fixture = "get_ice_server_config_ok",
                    header_repeat = { name = "X-Big", text = "a", count = 32768 } }
            local out, err = timed(client())
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
        end)

        it("invalid UTF-8 inside a string is returned as the bytes sent", function()
            script("invalid_utf8_200")
            local out, err = timed(client())
            assert.is_nil(err)
            local user = out.IceServerList[1].Username
            assert.is_string(user)
            assert.equal("1700000300:\xc3(", user)
            assert.is_number(out.IceServerList[1].Ttl)
        end)

        it("a missing Content-Type still succeeds", function()
            script("no_content_type_200")
            local out, err, elapsed = timed(client())
            assert.is_nil(err)
            assert.is_true(elapsed < 1)
            assert.equal(2, #out.IceServerList)
            assert.is_string(out.IceServerList[1].Password)
        end)

        it("a chunked answer succeeds", function()
            script{ fixture = "get_ice_server_config_ok", chunked = true, chunk_size = 7 }
            local out, err = timed(client())
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
        end)

        it("an interim 100 Continue before the answer is skipped", function()
            local ok = assert(io.open(replay.fixtures_dir .. "/get_ice_server_config_ok.json")):read("a")
            local body = require("cjson").decode(ok).body
            script{ raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          .. "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body }
            local out, err = timed(client())
            assert.is_nil(err)
            assert.equal(2, #out.IceServerList)
        end)

        it("a JSON array, a JSON string and JSON nested too deep give InvalidResponseError", function()
            local deep = ("["):rep(1000) .. ("]"):rep(1000)
            for _, body in ipairs{ "[1,2,3]", "\"IceServerList\"", deep, "{\"IceServerList\":[" .. deep .. "]}" } do
                srv:reset()
                script{ fixture = "get_ice_server_config_ok", body = body }
                local out, err, elapsed = timed(client())
                assert.is_nil(out)
                assert_error(err, "InvalidResponseError", elapsed, 1)
            end
        end)

        it("an error status with an empty body gives HttpError", function()
            script{ status = 500, headers = {}, body = "" }
            local out, err, elapsed = timed(client())
            assert.is_nil(out)
            assert_error(err, "HttpError", elapsed, 1)
            assert.equal(500, err.status)
            assert.is_true(err.retryable)
        end)
    end)
end)
