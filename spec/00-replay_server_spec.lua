-- Self-test of the replay server and its spec-side client.
package.path = "./?.lua;" .. package.path

local replay = require "spec.support.replay"
local socket = require "socket"
local cjson = require "cjson"

local gettime = socket.gettime

---------------------------------------------------------------------------
-- tiny raw HTTP/1.1 client on luasocket
---------------------------------------------------------------------------

local function connect(port, timeout)
  local c = assert(socket.tcp())
  c:settimeout(timeout or 5)
  assert(c:connect("127.0.0.1", port))
  return c
end

local function send_request(c, method, target, headers, body)
  local lines = { method .. " " .. target .. " HTTP/1.1", "Host: 127.0.0.1" }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
end

-- returns resp or nil, err; resp.body_error is set when the body broke off
local function read_response(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local resp = { status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)")), headers = {}, h = {} }
  for _ = 1, 1000 do
    local l, herr = c:receive("*l")
    if not l then return nil, "headers: " .. tostring(herr) end
    if l == "" then break end
    local n, v = l:match("^([^:]+):%s*(.*)$")
    resp.headers[#resp.headers + 1] = { n, v }
    resp.h[n:lower()] = v
  end
  if resp.status == 100 then return resp end
  if resp.h["transfer-encoding"] == "chunked" then
    local parts = {}
    resp.chunks = 0
    for _ = 1, 1e6 do
      local size_line, cerr = c:receive("*l")
      if not size_line then resp.body_error = cerr break end
      local size = tonumber(size_line, 16)
      if size == 0 then c:receive("*l") break end
      local data, derr, partial = c:receive(size)
      if not data then
        parts[#parts + 1] = partial
        resp.body_error = derr
        break
      end
      parts[#parts + 1] = data
      resp.chunks = resp.chunks + 1
      c:receive("*l")
    end
    resp.body = table.concat(parts)
  elseif resp.h["content-length"] then
    local n = tonumber(resp.h["content-length"])
    if n == 0 then
      resp.body = ""
    else
      local data, derr, partial = c:receive(n)
      resp.body = data or partial
      resp.body_error = not data and derr or nil
    end
  else
    local data, derr, partial = c:receive("*a")
    resp.body = data or partial
    resp.body_error = not data and derr or nil
  end
  return resp
end

local function request(srv, method, target, headers, body)
  local c = connect(srv.port)
  send_request(c, method, target, headers, body)
  local resp, err = read_response(c)
  c:close()
  return resp, err
end

local function http_date_to_time(s)
  local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                   Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
  local d, mon, y, hh, mm, ss = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  assert(d, "not an HTTP-date: " .. tostring(s))
  -- days from civil (proleptic Gregorian), UTC
  y, mon = tonumber(y), months[mon]
  if mon <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mon + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + tonumber(d) - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

---------------------------------------------------------------------------

describe("replay server", function()
  local srv

  lazy_setup(function()
    srv = replay.start { lifetime = 120 }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  before_each(function()
    srv:reset()
  end)

  it("starts on an ephemeral port and reports it", function()
    assert.is_number(srv.port)
    assert.is_true(srv.port > 0)
    assert.are.equal("http://127.0.0.1:" .. srv.port, srv.url)
    assert.is_true(srv:alive())
  end)

  it("answers unmatched requests with 404 no route, or the default", function()
    local r = request(srv, "GET", "/nothing")
    assert.are.equal(404, r.status)
    assert.are.same({ message = "no route" }, cjson.decode(r.body))
    srv:script({}, { status = 418, body = "teapot" })
    r = request(srv, "GET", "/nothing")
    assert.are.equal(418, r.status)
    assert.are.equal("teapot", r.body)
  end)

  it("consumes a route's list in order and repeats the last entry", function()
    srv:script {
      ["/v1/get-ice-server-config"] = { { status = 500, body = "a" }, { status = 503, body = "b" }, { body = "c" } },
    }
    local got = {}
    for i = 1, 5 do
      local r = request(srv, "POST", "/v1/get-ice-server-config?x=" .. i, nil, "{}")
      got[i] = r.status .. r.body
    end
    assert.are.same({ "500a", "503b", "200c", "200c", "200c" }, got)
  end)

  it("prefers METHOD+path over path, and ignores the query string", function()
    srv:script {
      ["/latest/api/token"] = { { body = "by-path" } },
      ["PUT /latest/api/token"] = { { body = "by-method" } },
    }
    assert.are.equal("by-method", request(srv, "PUT", "/latest/api/token?a=b", nil, "").body)
    assert.are.equal("by-path", request(srv, "GET", "/latest/api/token").body)
  end)

  it("replaces the previous script but keeps the log", function()
    srv:script { ["/a"] = { { body = "one" } } }
    assert.are.equal("one", request(srv, "GET", "/a").body)
    srv:script { ["/b"] = { { body = "two" } } }
    assert.are.equal(404, request(srv, "GET", "/a").status)
    assert.are.equal(2, #srv:requests())
  end)

  it("logs requests with original header case and order, body and connection id", function()
    srv:script({}, { body = "ok" })
    local c = connect(srv.port)
    send_request(c, "POST", "/v1/send-alexa-offer-to-master?q=1",
      { { "X-Amz-Date", "20240101T000000Z" }, { "content-type", "application/json" },
        { "X-Dup", "1" }, { "X-Dup", "2" } },
      '{"a":1}')
    assert.are.equal(200, read_response(c).status)
    send_request(c, "GET", "/second")
    assert.are.equal(200, read_response(c).status)
    c:close()
    local c2 = connect(srv.port)
    send_request(c2, "GET", "/third")
    assert.are.equal(200, read_response(c2).status)
    c2:close()

    local log = srv:requests()
    assert.are.equal(3, #log)
    local e = log[1]
    assert.are.equal("POST", e.method)
    assert.are.equal("/v1/send-alexa-offer-to-master?q=1", e.target)
    assert.are.equal("/v1/send-alexa-offer-to-master", e.path)
    assert.are.equal('{"a":1}', e.body)
    assert.are.same({ "Host", "127.0.0.1" }, e.headers[1])
    assert.are.same({ "X-Amz-Date", "20240101T000000Z" }, e.headers[2])
    assert.are.same({ "content-type", "application/json" }, e.headers[3])
    assert.are.same({ "X-Dup", "1" }, e.headers[4])
    assert.are.same({ "X-Dup", "2" }, e.headers[5])
    assert.are.equal("20240101T000000Z", replay.header(e, "x-amz-date"))
    assert.is_number(e.received_at)
    assert.is_true(math.abs(e.received_at - gettime()) < 10)
    -- keep-alive: first two on one connection, third on a newer one
    assert.are.equal(log[1].connection, log[2].connection)
    assert.is_true(log[3].connection > log[2].connection)
    assert.is_true(log[2].received_at >= log[1].received_at)

    local stats = srv:stats()
    assert.are.equal(3, stats.requests)
    assert.are.equal(2, stats.connections)
    assert.are.equal("3", tostring(stats.requests)) -- integers, not 3.0
    assert.are.equal(tostring(math.floor(log[1].connection)), tostring(log[1].connection))
  end)

  it("serves pipelined requests in order on one connection", function()
    srv:script { ["/p"] = { { body = "1" }, { body = "2" } } }
    local c = connect(srv.port)
    assert(c:send("GET /p HTTP/1.1\r\nHost: x\r\n\r\nGET /p HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.are.equal("1", read_response(c).body)
    assert.are.equal("2", read_response(c).body)
    c:close()
  end)

  it("reset clears the log and the script", function()
    srv:script { ["/a"] = { { body = "x" } } }
    request(srv, "GET", "/a")
    srv:reset()
    assert.are.same({}, srv:requests())
    assert.are.equal(0, srv:stats().requests)
    assert.are.equal(404, request(srv, "GET", "/a").status)
  end)

  it("delays a response", function()
    srv:script { ["/slow"] = { { delay = 0.3, body = "late" } } }
    local t0 = gettime()
    local r = request(srv, "GET", "/slow")
    local dt = gettime() - t0
    assert.are.equal("late", r.body)
    assert.is_true(dt >= 0.28, "too fast: " .. dt)
    assert.is_true(dt < 2, "too slow: " .. dt)
  end)

  it("sends chunked bodies", function()
    srv:script { ["/c"] = { { chunked = true, body = "hello chunked world", chunk_size = 5 } } }
    local r = request(srv, "GET", "/c")
    assert.are.equal("chunked", r.h["transfer-encoding"])
    assert.is_nil(r.h["content-length"])
    assert.are.equal("hello chunked world", r.body)
    assert.are.equal(4, r.chunks)
  end)

  it("handles no_content_length, close, raw, headers and reasons", function()
    srv:script {
      ["/ncl"] = { { no_content_length = true, body = "until close" } },
      ["/close"] = { { close = true, body = "bye", headers = { { "A", "1" }, { "A", "2" } }, reason = "Fine" } },
      ["/raw"] = { { raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" } },
    }
    local r = request(srv, "GET", "/ncl")
    assert.is_nil(r.h["content-length"])
    assert.are.equal("until close", r.body)

    local c = connect(srv.port)
    send_request(c, "GET", "/close")
    r = read_response(c)
    assert.are.equal("close", r.h.connection)
    assert.are.same({ { "A", "1" }, { "A", "2" }, { "Content-Length", "3" }, { "Connection", "close" } }, r.headers)
    assert.are.equal("bye", r.body)
    local _, err = c:receive(1)
    assert.are.equal("closed", err)
    c:close()

    c = connect(srv.port)
    send_request(c, "GET", "/raw")
    assert.are.equal("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", c:receive("*a"))
    c:close()
  end)

  it("injects faults", function()
    srv:script {
      ["/f1"] = { { fault = "close_before_headers" } },
      ["/f2"] = { { fault = "close_mid_headers", headers = { { "X-Long", string.rep("h", 200) } }, body = "x" } },
      ["/f3"] = { { fault = "close_mid_body", body = string.rep("b", 1000) } },
      ["/f4"] = { { fault = "stall_mid_body", stall = 0.3, body = string.rep("s", 100) } },
      ["/f5"] = { { fault = "stall_before_headers", stall = 0.3 } },
    }
    local r, err = request(srv, "GET", "/f1")
    assert.is_nil(r)
    assert.are.equal("closed", err)

    r, err = request(srv, "GET", "/f2")
    assert.is_nil(r)
    assert.matches("closed", err)

    r = request(srv, "GET", "/f3")
    assert.are.equal("1000", r.h["content-length"])
    assert.are.equal("closed", r.body_error)
    assert.are.equal(500, #r.body)

    local t0 = gettime()
    r = request(srv, "GET", "/f4")
    assert.are.equal("closed", r.body_error)
    assert.are.equal(50, #r.body)
    assert.is_true(gettime() - t0 >= 0.28)

    t0 = gettime()
    r, err = request(srv, "GET", "/f5")
    assert.is_nil(r)
    assert.are.equal("closed", err)
    assert.is_true(gettime() - t0 >= 0.28)
  end)

  it("reports a bad scripted response as a 500 instead of dying", function()
    local quiet = replay.start { lifetime = 30, stderr = "/dev/null" }
    quiet:script { ["/bad"] = { { fixture = "no_such_fixture" } }, ["/badfault"] = { { fault = "nope" } } }
    local r = request(quiet, "GET", "/bad")
    assert.are.equal(500, r.status)
    assert.matches("no_such_fixture", cjson.decode(r.body).message)
    assert.are.equal(500, request(quiet, "GET", "/badfault").status)
    assert.are.equal(404, request(quiet, "GET", "/x").status)
    quiet:stop()
  end)

  it("substitutes placeholders in headers and bodies", function()
    srv:script { ["/s"] = { {
      headers = { { "X-Id", "{{request_id}}" }, { "Date", "{{date}}" }, { "X-Past", "{{date_offset:-3600}}" },
                  { "X-Echo", "{{header:x-token}}" }, { "X-None", "[{{header:x-absent}}]" } },
      body = "{{base_url}}|{{request_id}}|{{header:x-token}}|{{unknown}}",
    } } }
    local r = request(srv, "GET", "/s", { { "X-Token", "tok/+=" } })
    local id = r.h["x-id"]
    assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", id)
    assert.are.equal(srv.url .. "|" .. id .. "|tok/+=|{{unknown}}", r.body)
    assert.are.equal("tok/+=", r.h["x-echo"])
    assert.are.equal("[]", r.h["x-none"])
    local now, past = http_date_to_time(r.h.date), http_date_to_time(r.h["x-past"])
    assert.is_true(math.abs(now - os.time()) < 5)
    assert.are.equal(3600, now - past)
    local r2 = request(srv, "GET", "/s")
    assert.are_not.equal(id, r2.h["x-id"])
  end)

  it("answers Expect: 100-continue before reading the body", function()
    srv:script({}, { status = 201, body = "got it" })
    local c = connect(srv.port)
    local body = string.rep("z", 4096)
    assert(c:send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " .. #body ..
      "\r\nExpect: 100-continue\r\n\r\n"))
    local interim = read_response(c)
    assert.are.equal(100, interim.status)
    assert(c:send(body))
    local r = read_response(c)
    assert.are.equal(201, r.status)
    assert.are.equal("got it", r.body)
    c:close()
    local log = srv:requests()
    assert.are.equal(body, log[1].body)
  end)

  it("accepts chunked request bodies", function()
    srv:script({}, { body = "ok" })
    local c = connect(srv.port)
    assert(c:send("POST /chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" ..
      "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"))
    assert.are.equal("ok", read_response(c).body)
    send_request(c, "GET", "/after")
    assert.are.equal("ok", read_response(c).body)
    c:close()
    local log = srv:requests()
    assert.are.equal("hello, world", log[1].body)
    assert.are.equal("/after", log[2].path)
  end)

  it("survives garbage, oversized headers and vanishing clients", function()
    local c = connect(srv.port)
    assert(c:send("\0\1\2 garbage\r\n\r\n"))
    local r = read_response(c)
    assert.are.equal(400, r.status)
    c:close()

    c = connect(srv.port)
    local huge = "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " .. string.rep("h", 70 * 1024) .. "\r\n\r\n"
    c:send(huge)
    r = read_response(c)
    assert.are.equal(431, r.status)
    c:close()

    c = connect(srv.port)
    c:send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
    c:close()

    c = connect(srv.port)
    c:send("GET /x HTTP/1.1\r\nHo")
    c:close()

    srv:script { ["/slow"] = { { delay = 0.2, body = string.rep("q", 100000) } } }
    c = connect(srv.port)
    send_request(c, "GET", "/slow")
    c:close()

    socket.sleep(0.3)
    assert.are.equal(404, request(srv, "GET", "/still-alive").status)
    assert.is_true(srv:alive())
  end)

  it("answers 300 concurrent delayed requests together", function()
    srv:script { ["/slow"] = { { delay = 0.2, body = "ok" } } }
    local n = 300
    local clients = {}
    local t0 = gettime()
    for i = 1, n do
      local c = connect(srv.port)
      assert(c:send("GET /slow?i=" .. i .. " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
      c:settimeout(0)
      clients[i] = { sock = c, buf = {} }
    end
    local pending = {}
    for _, cl in ipairs(clients) do pending[cl.sock] = cl end
    local left = n
    local deadline = gettime() + 10
    while left > 0 and gettime() < deadline do
      local watch = {}
      for s in pairs(pending) do watch[#watch + 1] = s end
      local readable = socket.select(watch, nil, 1)
      for _, s in ipairs(readable) do
        local cl = pending[s]
        local data, err, partial = s:receive(8192)
        local chunk = data or partial
        if chunk and #chunk > 0 then cl.buf[#cl.buf + 1] = chunk end
        if err == "closed" then
          cl.done = gettime()
          cl.text = table.concat(cl.buf)
          pending[s] = nil
          s:close()
          left = left - 1
        end
      end
    end
    local elapsed = gettime() - t0
    assert.are.equal(0, left)
    local last = 0
    for _, cl in ipairs(clients) do
      assert.matches("^HTTP/1.1 200 OK\r\n", cl.text)
      assert.matches("\r\n\r\nok$", cl.text)
      last = math.max(last, cl.done)
    end
    assert.is_true(elapsed >= 0.19, "too fast: " .. elapsed)
    assert.is_true(elapsed < 1.5, "not concurrent enough: " .. elapsed)
    assert.are.equal(n, srv:stats().requests)
  end)

  describe("fixtures", function()
    local dir = replay.fixtures_dir
    local names = {
      "get_ice_server_config_ok", "send_alexa_offer_to_master_ok", "get_signaling_channel_endpoint_ok",
      "error_client_limit_exceeded", "error_invalid_argument", "error_invalid_client",
      "error_not_authorized", "error_resource_not_found", "error_session_expired", "error_access_denied",
      "throttling_429", "error_500", "html_502", "error_503", "error_504", "truncated_json_200",
      "empty_200", "error_type_in_body_only", "error_code_in_body_only", "body_over_cap",
      "signature_expired_403", "signature_mismatch_403", "wrong_types_200", "ttl_string_200",
      "invalid_utf8_200", "huge_header_200", "no_content_type_200",
    }

    it("are all present and valid JSON", function()
      for _, name in ipairs(names) do
        local f = assert(io.open(dir .. "/" .. name .. ".json", "rb"), name)
        local fx = cjson.decode(f:read("*a"))
        f:close()
        assert.is_number(fx.status, name)
        assert.is_table(fx.headers, name)
      end
    end)

    it("serve with realistic AWS headers", function()
      local routes = {}
      for _, name in ipairs(names) do routes["/" .. name] = { { fixture = name } } end
      srv:script(routes)
      local expect = {
        error_client_limit_exceeded = { 400, "ClientLimitExceededException" },
        error_invalid_argument = { 400, "InvalidArgumentException" },
        error_invalid_client = { 400, "InvalidClientException" },
        error_not_authorized = { 401, "NotAuthorizedException" },
        error_resource_not_found = { 404, "ResourceNotFoundException" },
        error_session_expired = { 400, "SessionExpiredException" },
        error_access_denied = { 401, "AccessDeniedException" },
        throttling_429 = { 429, "ThrottlingException" },
        signature_expired_403 = { 403, "InvalidSignatureException" },
        signature_mismatch_403 = { 403, "InvalidSignatureException" },
      }
      for name, e in pairs(expect) do
        local r = request(srv, "POST", "/" .. name, nil, "{}")
        assert.are.equal(e[1], r.status, name)
        assert.matches("^" .. e[2] .. ":http://internal%.amazon%.com/coral/", r.h["x-amzn-errortype"], nil, name)
        assert.matches("^%x+%-", r.h["x-amzn-requestid"])
        assert.are.equal("application/json", r.h["content-type"])
        assert.is_string(cjson.decode(r.body).message)
      end

      local r = request(srv, "POST", "/get_ice_server_config_ok", nil, "{}")
      assert.are.equal(200, r.status)
      local doc = cjson.decode(r.body)
      assert.are.equal(2, #doc.IceServerList)
      assert.are.equal(300, doc.IceServerList[1].Ttl)
      assert.are.equal(3, #doc.IceServerList[1].Uris)
      assert.is_not_nil(doc.ExtraUnmodelledMember)
      assert.is_true(math.abs(http_date_to_time(r.h.date) - os.time()) < 5)

      doc = cjson.decode(request(srv, "POST", "/get_signaling_channel_endpoint_ok", nil, "{}").body)
      assert.are.same({ Protocol = "HTTPS", ResourceEndpoint = srv.url }, doc.ResourceEndpointList[1])

      r = request(srv, "POST", "/html_502")
      assert.are.equal(502, r.status)
      assert.are.equal("text/html", r.h["content-type"])
      assert.is_nil(r.h["x-amzn-requestid"])

      r = request(srv, "POST", "/body_over_cap")
      assert.are.equal(2 * 1024 * 1024, tonumber(r.h["content-length"]))
      assert.are.equal(2 * 1024 * 1024, #r.body)
      assert.are.equal(string.rep("a", 64), r.body:sub(-64))

      r = request(srv, "POST", "/huge_header_200")
      assert.are.equal(204800, #r.h["x-big"])
      assert.are.equal(2, #cjson.decode(r.body).IceServerList)

      r = request(srv, "POST", "/invalid_utf8_200")
      assert.truthy(r.body:find("\195\40", 1, true))

      r = request(srv, "POST", "/no_content_type_200")
      assert.is_nil(r.h["content-type"])
      assert.are.equal(2, #cjson.decode(r.body).IceServerList)

      r = request(srv, "POST", "/signature_mismatch_403", { { "X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLETOKEN/+=" } })
      assert.truthy(cjson.decode(r.body).message:find("x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN/+=", 1, true))

      assert.are.equal(0, #request(srv, "POST", "/empty_200").body)
      assert.has_error(function() cjson.decode(request(srv, "POST", "/truncated_json_200").body) end)
      assert.are.equal("oops", cjson.decode(request(srv, "POST", "/wrong_types_200").body).IceServerList)
      assert.are.equal("300", cjson.decode(request(srv, "POST", "/ttl_string_200").body).IceServerList[1].Ttl)
      assert.matches("ResourceNotFoundException",
        cjson.decode(request(srv, "POST", "/error_type_in_body_only").body).__type)
      assert.are.equal("InvalidArgumentException",
        cjson.decode(request(srv, "POST", "/error_code_in_body_only").body).code)
    end)

    it("can be overridden field by field", function()
      srv:script { ["/o"] = { { fixture = "get_ice_server_config_ok", status = 202,
                                 body_json = { IceServerList = {} }, remove_headers = { "Date" },
                                 add_headers = { { "X-Extra", "1" } } } } }
      local r = request(srv, "GET", "/o")
      assert.are.equal(202, r.status)
      assert.is_nil(r.h.date)
      assert.are.equal("1", r.h["x-extra"])
      assert.is_not_nil(r.h["x-amzn-requestid"])
      assert.are.equal("application/json", r.h["content-type"])
      assert.are.equal("table", type(cjson.decode(r.body).IceServerList))
    end)
  end)
end)

describe("replay server lifecycle", function()
  it("stops on request and exits by itself after its lifetime", function()
    local a = replay.start { lifetime = 1 }
    local b = replay.start { lifetime = 60 }
    assert.is_true(a:alive())
    b:stop()
    assert.is_false(b:alive())
    socket.sleep(1.6)
    assert.is_false(a:alive())
    a:stop()
  end)

  it("fails clearly when it cannot start", function()
    assert.has_error(function()
      replay.start { tls = { cert = "/nonexistent/cert.pem", key = "/nonexistent/key.pem" }, stderr = "/dev/null" }
    end)
  end)
end)

describe("replay server over TLS", function()
  local srv, dir

  lazy_setup(function()
    dir = tmpdir()
    local cert, key = replay.make_cert(dir)
    srv = replay.start { tls = { cert = cert, key = key }, lifetime = 60 }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if dir then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("serves https with the generated certificate", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", srv.url)
    srv:script { ["/v1/get-signaling-channel-endpoint"] = { { fixture = "get_signaling_channel_endpoint_ok" } } }
    local https = require "ssl.https"
    local ltn12 = require "ltn12"
    local out = {}
    local _, code = https.request {
      url = srv.url .. "/v1/get-signaling-channel-endpoint",
      method = "POST",
      source = ltn12.source.string("{}"),
      headers = { ["content-length"] = "2", ["content-type"] = "application/json" },
      sink = ltn12.sink.table(out),
      verify = "none",
      protocol = "any",
    }
    assert.are.equal(200, code)
    local doc = cjson.decode(table.concat(out))
    assert.are.equal(srv.url, doc.ResourceEndpointList[1].ResourceEndpoint)
    assert.are.equal(1, #srv:requests())
  end)

  it("presents a certificate for 127.0.0.1 that verifies against itself", function()
    local ssl = require "ssl"
    local c = connect(srv.port)
    local s = assert(ssl.wrap(c, { mode = "client", protocol = "any", verify = "peer",
                                   cafile = dir .. "/cert.pem" }))
    s:settimeout(5)
    assert(s:dohandshake())
    local cert = s:getpeercertificate()
    local ext = cert:extensions()
    local san = ext["2.5.29.17"]
    assert.are.same({ "127.0.0.1" }, san.iPAddress)
    assert.are.same({ "localhost" }, san.dNSName)
    s:close()
  end)

  it("is not wedged by clients that refuse the certificate or stall the handshake", function()
    local ssl = require "ssl"
    local other = tmpdir()
    local other_cert = replay.make_cert(other)
    -- stalls: connects but never sends a ClientHello
    local staller = connect(srv.port)
    -- refuses: verifies against an unrelated CA
    local c = connect(srv.port)
    local s = assert(ssl.wrap(c, { mode = "client", protocol = "any", verify = "peer", cafile = other_cert }))
    s:settimeout(5)
    local ok = s:dohandshake()
    assert.is_falsy(ok)
    s:close()
    -- plain HTTP on the TLS port
    local p = connect(srv.port)
    p:send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    p:receive("*a")
    p:close()

    local https = require "ssl.https"
    local t0 = gettime()
    local _, code = https.request { url = srv.url .. "/nothing", verify = "none", protocol = "any",
                                    sink = require("ltn12").sink.null() }
    assert.are.equal(404, code)
    assert.is_true(gettime() - t0 < 2)
    staller:close()
    os.execute("rm -rf '" .. other .. "'")
  end)
end)
