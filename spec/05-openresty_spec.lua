-- The module inside a real nginx (Debian's, with the lua module and
-- lua-resty-core; the tree's LuaJIT build): handlers in
-- spec/support/ngx_handlers.lua call both operations against the replay
-- server and answer JSON. Covers the cosocket transport (keep-alive pool,
-- TLS, chunked bodies, caps, timeouts), the libcurl fallback in the log
-- phase, timers, a custom transport, one discovery and one credentials
-- refresh in flight per worker, that concurrent requests do not block each
-- other, and the example in examples/openresty.
local cjson = require "cjson"
local helpers = require "spec.support.helpers"
local nginx = require "spec.support.nginx"
local replay = require "spec.support.replay"
local socket = require "socket"

local ARN = helpers.ARN
local CREDS = helpers.creds()
local ICE = helpers.ICE_PATH
local OFFER = helpers.OFFER_PATH
local DISCOVERY = "/getSignalingChannelEndpoint"

local function os_ok(a, _, c)
    if type(a) == "number" then return a == 0 end
    return a == true and (c == nil or c == 0)
end

-- A self-signed certificate whose DNS name is the address itself, so
-- nginx's host check (X509_check_host) accepts https://127.0.0.1.
local function make_ip_named_cert(dir)
    local cert, key = dir .. "/ip-cert.pem", dir .. "/ip-key.pem"
    assert(os_ok(os.execute("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 1 -keyout " .. key
        .. " -out " .. cert .. " -subj /CN=127.0.0.1 -addext subjectAltName=DNS:127.0.0.1,IP:127.0.0.1"
        .. " >/dev/null 2>&1")), "openssl failed")
    return cert, key
end

local function query(t)
    local parts = {}
    for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. tostring(v) end
    table.sort(parts)
    return table.concat(parts, "&")
end

describe("OpenResty", function()
    local srv, tls_srv, tls_other, ng, tmp

    setup(function()
        assert(nginx.available())
        assert(helpers.exists(nginx.ROOT .. "/build/jit/kinesis_video_signaling/core.so"),
            "build the LuaJIT core first: make LUA_VERSION=jit all")
        tmp = os.tmpname()
        os.remove(tmp)
        assert(os_ok(os.execute("mkdir -p " .. tmp)))
        local ip_cert, ip_key = make_ip_named_cert(tmp)
        local other_cert, other_key = replay.make_cert(tmp .. "/other") -- names localhost, not 127.0.0.1
        helpers.write_file(tmp .. "/trusted.pem", helpers.read_file(ip_cert) .. helpers.read_file(other_cert))
        srv = replay.start{ lifetime = 300 }
        tls_srv = replay.start{ lifetime = 300, tls = { cert = ip_cert, key = ip_key } }
        tls_other = replay.start{ lifetime = 300, tls = { cert = other_cert, key = other_key } }
        local handlers = 'require("spec.support.ngx_handlers")'
        ng = nginx.start{
            env = {
                KVS_SPEC_REPLAY_URL = srv.url, KVS_SPEC_TLS_URL = tls_srv.url, KVS_SPEC_TLS_OTHER_URL = tls_other.url,
                AWS_ACCESS_KEY_ID = CREDS.access_key_id, AWS_SECRET_ACCESS_KEY = CREDS.secret_access_key,
            },
            http = table.concat({
                "lua_shared_dict kvs_spec 1m;",
                "lua_ssl_trusted_certificate " .. tmp .. "/trusted.pem;",
                "lua_ssl_verify_depth 2;",
            }, "\n"),
            server = table.concat({
                "location /call { content_by_lua_block { " .. handlers .. ".call() } }",
                "location /log { content_by_lua_block { ngx.say('logged') } log_by_lua_block { "
                    .. handlers .. ".in_log() } }",
                "location /timer { content_by_lua_block { " .. handlers .. ".in_timer() } }",
                "location /result { content_by_lua_block { " .. handlers .. ".result() } }",
                "location /custom-seen { content_by_lua_block { " .. handlers .. ".custom_seen() } }",
                "location /lock-recovery { content_by_lua_block { " .. handlers .. ".lock_recovery() } }",
            }, "\n"),
        }
    end)

    teardown(function()
        local log = ng and ng:error_log() or ""
        if ng then ng:stop() end
        for _, s in ipairs{ srv, tls_srv, tls_other } do
            if s then s:stop() end
        end
        if tmp then os.execute("rm -rf " .. tmp) end
        -- A handler that raised, or nginx itself in trouble, shows here.
        assert.is_nil(log:match("[^\n]*runtime error[^\n]*"))
        assert.is_nil(log:match("[^\n]*%[alert%][^\n]*"))
        assert.is_nil(log:match("[^\n]*%[crit%][^\n]*"))
    end)

    before_each(function()
        srv:reset()
    end)

    local function script(path, ...)
        local list = {}
        for i, f in ipairs{ ... } do list[i] = type(f) == "string" and { fixture = f } or f end
        srv:script{ [path] = list }
    end

    -- GET /call with these arguments; the decoded JSON answer.
    local function call(args, path)
        args = args or {}
        if args.channel == nil then args.channel = ARN end
        local status, body = ng:get((path or "/call") .. "?" .. query(args), 20)
        assert.equal(200, status, body)
        return cjson.decode(body)
    end

    -- The JSON a log-phase or timer call stored under `key`, waited for.
    local function result(key)
        for _ = 1, 100 do
            local status, body = ng:get("/result?key=" .. key)
            assert.equal(200, status)
            if body:match("^null") == nil then return cjson.decode(body) end
            socket.sleep(0.05)
        end
        error("no result for " .. key .. " within 5 s")
    end

    describe("in a content handler", function()
        it("GetIceServerConfig returns the service's answer over the cosocket transport", function()
            script(ICE, "get_ice_server_config_ok")
            local r = call{}
            assert.is_nil(r.err)
            assert.equal("ngx", r.transport)
            assert.equal("content", r.phase)
            assert.equal(2, #r.ok.IceServerList)
            assert.equal(300, r.ok.IceServerList[1].Ttl)
            assert.matches("^turns?:", r.ok.IceServerList[1].Uris[1])
            local log = srv:requests()
            assert.equal(1, #log)
            assert.equal(ICE, log[1].target)
            assert.equal("keep-alive", helpers.header(log[1], "connection"))
            assert.same({ ChannelARN = ARN }, cjson.decode(log[1].body))
            -- The credentials came from nginx's environment (`env` directives).
            local expected, actual = helpers.recompute_signature(log[1], srv.url, CREDS, "us-west-2")
            assert.equal(expected, actual)
        end)

        it("SendAlexaOfferToMaster returns the answer", function()
            script(OFFER, "send_alexa_offer_to_master_ok")
            local r = call{ op = "offer" }
            assert.is_nil(r.err)
            assert.matches("^dj0w", r.ok.Answer)
            local sent = cjson.decode(srv:requests()[1].body)
            assert.same({ ChannelARN = ARN, SenderClientId = "viewer-1", MessagePayload = "eyJ0eXBlIjoib2ZmZXIifQ==" },
                sent)
        end)

        it("shares pooled connections between clients of later requests (libcurl cannot)", function()
            script(ICE, "get_ice_server_config_ok")
            for _ = 1, 3 do assert.is_nil(call{}.err) end          -- a new client per request
            for _ = 1, 2 do assert.is_nil(call{ transport = "curl" }.err) end
            local log = srv:requests()
            assert.equal(5, #log)
            assert.equal(log[1].connection, log[2].connection)
            assert.equal(log[1].connection, log[3].connection)
            -- The control: each libcurl client opens its own connection.
            assert.are_not.equal(log[3].connection, log[4].connection)
            assert.are_not.equal(log[4].connection, log[5].connection)
        end)

        it("returns service errors in the error shape (404 ResourceNotFoundException)", function()
            script(ICE, "error_resource_not_found")
            local r = call{ max_attempts = 3 }
            assert.is_nil(r.ok)
            assert.equal("ResourceNotFoundException", r.err.code)
            assert.equal(404, r.err.status)
            assert.is_false(r.err.retryable)
            assert.equal(1, r.err.attempts)
            assert.matches("not found", r.err.message)
        end)

        it("retries a 503 after a non-blocking sleep", function()
            script(ICE, "error_503", "get_ice_server_config_ok")
            local r = call{ max_attempts = 2 }
            assert.is_nil(r.err)
            assert.equal(2, #srv:requests())
        end)

        it("returns TimeoutError within the timeout when the server stalls", function()
            script(ICE, { fixture = "get_ice_server_config_ok", fault = "stall_before_headers", stall = 5 })
            local t0 = socket.gettime()
            local r = call{ timeout = 0.5 }
            local elapsed = socket.gettime() - t0
            assert.equal("TimeoutError", r.err.code)
            assert.is_true(r.err.retryable)
            assert.is_true(elapsed < 2, "took " .. elapsed)
        end)

        it("returns NetworkError when the connection is refused or the name cannot be resolved", function()
            local r = call{ target = "refused" }
            assert.equal("NetworkError", r.err.code)
            assert.matches("refused", r.err.message)
            r = call{ target = "name" }
            assert.equal("NetworkError", r.err.code)
            assert.matches("needs a `resolver` directive", r.err.message, 1, true)
        end)

        it("reads chunked and close-delimited bodies", function()
            script(ICE, { fixture = "get_ice_server_config_ok", chunked = true, chunk_size = 97 },
                { fixture = "get_ice_server_config_ok", no_content_length = true })
            for _ = 1, 2 do
                local r = call{}
                assert.is_nil(r.err)
                assert.equal(2, #r.ok.IceServerList)
            end
        end)

        it("refuses bodies over 1 MiB, oversized headers and cut-off answers", function()
            local cases = {
                { "body_over_cap", "InvalidResponseError", "too large" },
                { { fixture = "body_over_cap", chunked = true }, "InvalidResponseError", "too large" },
                { "huge_header_200", "NetworkError", "headers too large" },
                { { fixture = "get_ice_server_config_ok", fault = "close_mid_body" }, "NetworkError", "" },
                { { fixture = "get_ice_server_config_ok", fault = "close_before_headers" }, "NetworkError", "" },
            }
            for _, case in ipairs(cases) do
                srv:reset()
                script(ICE, case[1])
                local r = call{}
                local name = type(case[1]) == "table" and cjson.encode(case[1]) or case[1]
                assert.is_nil(r.ok, name)
                assert.equal(case[2], r.err.code, name)
                assert.matches(case[3], r.err.message, 1, true)
            end
        end)
    end)

    describe("TLS", function()
        it("verifies the certificate and its host name, and keeps the connection", function()
            tls_srv:reset()
            tls_srv:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            assert.is_nil(call{ target = "tls" }.err)
            assert.is_nil(call{ target = "tls" }.err)
            local log = tls_srv:requests()
            assert.equal(2, #log)
            assert.equal(log[1].connection, log[2].connection)
        end)

        it("refuses a trusted certificate for another host unless verify_tls = false", function()
            tls_other:reset()
            tls_other:script{ [ICE] = { { fixture = "get_ice_server_config_ok" } } }
            local r = call{ target = "tls_other" }
            assert.equal("NetworkError", r.err.code)
            assert.matches("TLS certificate verification failed", r.err.message, 1, true)
            assert.equal(0, #tls_other:requests())
            assert.is_nil(call{ target = "tls_other", verify = "0" }.err)
            assert.equal(1, #tls_other:requests())
        end)
    end)

    describe("phases", function()
        it("falls back to libcurl in the log phase, where nginx has no cosockets", function()
            script(ICE, "get_ice_server_config_ok")
            local status = ng:get("/log?" .. query{ key = "log-auto", channel = ARN })
            assert.equal(200, status)
            local r = result("log-auto")
            assert.equal("log", r.phase)
            assert.equal("curl", r.transport)
            assert.is_nil(r.err)
            assert.equal(2, #r.ok.IceServerList)
        end)

        it("says clearly that transport = \"ngx\" cannot work in the log phase", function()
            ng:get("/log?" .. query{ key = "log-ngx", channel = ARN, transport = "ngx" })
            local r = result("log-ngx")
            assert.equal("InternalError", r.err.code)
            assert.matches("no cosockets in the log phase", r.err.message, 1, true)
            assert.equal(0, #srv:requests())
        end)

        it("uses cosockets in an ngx.timer callback", function()
            script(ICE, "get_ice_server_config_ok")
            local status = ng:get("/timer?" .. query{ key = "timer", channel = ARN })
            assert.equal(200, status)
            local r = result("timer")
            assert.equal("timer", r.phase)
            assert.equal("ngx", r.transport)
            assert.is_nil(r.err)
        end)
    end)

    it("hands a custom transport function the documented request", function()
        script(ICE, "get_ice_server_config_ok")
        local r = call{ transport = "custom", timeout = 4 }
        assert.equal("custom", r.transport)
        assert.is_nil(r.err)
        assert.equal(2, #r.ok.IceServerList)
        local seen = cjson.decode((select(2, ng:get("/custom-seen"))))
        local req = seen[#seen]
        assert.equal("POST", req.method)
        assert.equal(srv.url .. ICE, req.url)
        assert.same({ ChannelARN = ARN }, cjson.decode(req.body))
        assert.equal(4, req.timeout)
        assert.equal(1, req.connect_timeout)
        assert.same({ "authorization", "content-type", "host", "x-amz-date" }, req.header_names)
    end)

    describe("concurrency in one worker", function()
        it("runs one endpoint discovery for 20 concurrent requests; the others wait for it", function()
            srv:script{
                [DISCOVERY] = { { fixture = "get_signaling_channel_endpoint_ok", delay = 0.3 } },
                [ICE] = { { fixture = "get_ice_server_config_ok" } },
            }
            local paths = {}
            for i = 1, 20 do paths[i] = "/call?" .. query{ discover = 1, client = "discovery", channel = ARN } end
            local results = nginx.get_many(ng.port, paths, 20)
            local pids = {}
            for _, res in ipairs(results) do
                assert.equal(200, res.status, res.err)
                local r = cjson.decode(res.body)
                assert.is_nil(r.err)
                pids[r.pid] = true
            end
            assert.equal(1, #(function() local l = {} for p in pairs(pids) do l[#l + 1] = p end return l end)())
            local counts = {}
            for _, e in ipairs(srv:requests()) do counts[e.target] = (counts[e.target] or 0) + 1 end
            assert.equal(1, counts[DISCOVERY])
            assert.equal(20, counts[ICE])
        end)

        it("runs one credentials refresh for 20 concurrent requests", function()
            script(ICE, "get_ice_server_config_ok")
            local paths = {}
            for i = 1, 20 do paths[i] = "/call?" .. query{ creds = "slow", client = "slow-creds", channel = ARN } end
            local results = nginx.get_many(ng.port, paths, 20)
            for _, res in ipairs(results) do
                assert.equal(200, res.status, res.err)
                local r = cjson.decode(res.body)
                assert.is_nil(r.err)
                assert.equal(1, r.creds_calls)
            end
            assert.equal(20, #srv:requests())
        end)

        it("takes a lock back from a holder killed before it released, after one timeout", function()
            local status, body = ng:get("/lock-recovery")
            assert.equal(200, status, body)
            local r = cjson.decode(body)
            assert.is_true(r.killed)
            assert.is_nil(r.first_err)
            assert.equal("after recovery", r.first)
            assert.equal("no wait", r.second)
            assert.is_true(r.waited >= 0.25 and r.waited < 2, "waited " .. r.waited)
        end)

        it("does not block: 50 requests each waiting 200 ms upstream finish far below 50 x 200 ms", function()
            script(ICE, { fixture = "get_ice_server_config_ok", delay = 0.2 })
            local paths = {}
            for i = 1, 50 do paths[i] = "/call?" .. query{ client = "shared", channel = ARN } end
            local results, seconds = nginx.get_many(ng.port, paths, 30)
            for _, res in ipairs(results) do
                assert.equal(200, res.status, res.err)
                assert.is_nil(cjson.decode(res.body).err)
            end
            assert.equal(50, #srv:requests())
            -- Blocking would take at least 10 s; concurrently it is ~0.2 s.
            assert.is_true(seconds < 5, ("took %.2f s"):format(seconds))
        end)
    end)
end)

describe("outside nginx", function()
    local kvs = require "kinesis_video_signaling"
    local lock = require "kinesis_video_signaling.lock"
    local transport = require "kinesis_video_signaling.transport"

    it("refuses transport = \"ngx\" with a clear error", function()
        local c, err = kvs.new{ transport = "ngx", region = "us-west-2", credentials = CREDS }
        assert.is_nil(c)
        assert.equal("ParamValidationError", err.code)
        assert.matches("only inside nginx", err.message, 1, true)
        assert.equal("curl", transport.current{})
        assert.equal("custom", transport.current{ transport = function() end })
    end)

    it("runs locked work directly, with all its results and errors", function()
        local l, keyed = lock.new(), lock.keyed()
        assert.same({ 1, nil, 3 }, { l:run(function(a, b, c) return a, b, c end, 1, nil, 3) })
        assert.same({ "k", 2 }, { keyed:run("key", function(x) return "k", x end, 2) })
        assert.has_error(function() l:run(function() error("boom", 0) end) end, "boom")
        assert.is_nil(next(keyed.entries))
    end)
end)

describe("examples/openresty", function()
    it("starts as written and serves /ice-servers as JSON", function()
        local srv = replay.start{ lifetime = 120 }
        local ng
        local ok, err = pcall(function()
            srv:script{
                [DISCOVERY] = { { fixture = "get_signaling_channel_endpoint_ok" } },
                [ICE] = { { fixture = "get_ice_server_config_ok" } },
            }
            ng = nginx.start_example{ AWS_ACCESS_KEY_ID = CREDS.access_key_id,
                                      AWS_SECRET_ACCESS_KEY = CREDS.secret_access_key,
                                      AWS_ENDPOINT_URL_KINESIS_VIDEO = srv.url }
            local status, body, headers = ng:get("/ice-servers?channel=" .. ARN)
            assert.equal(200, status, body)
            assert.equal("application/json", headers["content-type"])
            assert.equal("no-store", headers["cache-control"])
            local answer = cjson.decode(body)
            assert.equal(3, #answer.iceServers)
            assert.same({ "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443" }, answer.iceServers[1].urls)
            assert.equal(3, #answer.iceServers[2].urls)
            assert.is_string(answer.iceServers[2].username)
            assert.is_string(answer.iceServers[2].credential)
            assert.equal(300, answer.ttl)
            local log = srv:requests()
            assert.equal(DISCOVERY, log[1].target)
            assert.equal(ICE, log[2].target)

            -- The second answer comes from the lua_shared_dict: no new request.
            status, body = ng:get("/ice-servers?channel=" .. ARN)
            assert.equal(200, status, body)
            assert.same(answer.iceServers, cjson.decode(body).iceServers)
            assert.equal(2, #srv:requests())

            status, body = ng:get("/ice-servers")
            assert.equal(400, status)
            assert.equal("ParamValidationError", cjson.decode(body).error)
        end)
        if ng then ng:stop() end
        srv:stop()
        assert(ok, err)
    end)
end)
