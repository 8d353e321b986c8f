-- Recorded-response replay server used by the specs.
--
-- Usage:
--   lua5.4 spec/support/replay_server.lua [--port N] [--tls CERT KEY]
--                                         [--lifetime SECONDS] [--fixtures DIR]
--
-- Binds 127.0.0.1 only, prints "PORT <n>" once listening, serves scripted
-- responses (see spec/fixtures/responses/README.md) and the /__replay/*
-- control endpoints, and exits after --lifetime seconds or on
-- POST /__replay/shutdown.
--
-- One process, one coroutine per connection, multiplexed with socket.select.

local socket = require "socket"
local cjson = require "cjson"

local floor, min, max = math.floor, math.min, math.max
local gettime = socket.gettime

---------------------------------------------------------------------------
-- limits
---------------------------------------------------------------------------

local MAX_HEAD = 64 * 1024            -- request header block cap (-> 431)
local MAX_BODY = 64 * 1024 * 1024     -- request body cap (-> 413)
local MAX_LINE = 8 * 1024             -- chunk-size / trailer line cap
local MAX_REQUESTS_PER_CONN = 100000
local FIRST_REQUEST_IDLE = 60         -- seconds to wait for a request head
local KEEPALIVE_IDLE = 120            -- idle keep-alive connection timeout
local IO_TIMEOUT = 30                 -- body read / response write timeout
local HANDSHAKE_TIMEOUT = 10
local MAX_FD = 1000                   -- select() cannot watch fds >= FD_SETSIZE
local SEND_PIECE = 64 * 1024
local DEFAULT_STALL = 30

---------------------------------------------------------------------------
-- command line
---------------------------------------------------------------------------

local function usage(msg)
  io.stderr:write("replay_server: ", msg, "\n",
    "usage: replay_server.lua [--port N] [--tls CERT KEY] [--lifetime SECONDS] [--fixtures DIR]\n")
  os.exit(2)
end

local script_dir = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "."

local opts = {
  port = 0,
  lifetime = 600,
  fixtures = script_dir .. "/../fixtures/responses",
}

do
  local argv = arg or {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--port" then
      opts.port = tonumber(argv[i + 1]) or usage("--port needs a number")
      i = i + 2
    elseif a == "--lifetime" then
      opts.lifetime = tonumber(argv[i + 1]) or usage("--lifetime needs a number")
      i = i + 2
    elseif a == "--fixtures" then
      opts.fixtures = argv[i + 1] or usage("--fixtures needs a directory")
      i = i + 2
    elseif a == "--tls" then
      opts.cert = argv[i + 1] or usage("--tls needs CERT and KEY")
      opts.key = argv[i + 2] or usage("--tls needs CERT and KEY")
      i = i + 3
    else
      usage("unknown argument " .. tostring(a))
    end
  end
end

math.randomseed(floor((gettime() * 1000) % 2147483647))

local function log_err(...)
  io.stderr:write("replay_server: ", ...)
  io.stderr:write("\n")
end

---------------------------------------------------------------------------
-- state
---------------------------------------------------------------------------

local base_url                    -- filled in once the port is known
local tls_ctx                     -- luasec context in --tls mode
local ssl                         -- luasec module in --tls mode

local traffic = {}                -- logged requests, arrival order
local script = { routes = {}, default = nil }
local seen_conns = {}             -- connection ids counted in stats (since reset)
local total_accepted = 0
local open_conns = 0
local next_conn_id = 0
local stopping = false

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [202] = "Accepted",
  [204] = "No Content", [301] = "Moved Permanently", [302] = "Found",
  [304] = "Not Modified", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [409] = "Conflict", [411] = "Length Required", [413] = "Payload Too Large",
  [415] = "Unsupported Media Type", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
}

local function http_date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", floor(t))
end

local function new_request_id()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = 0x40 + b[7] % 16          -- version 4
  b[9] = 0x80 + b[9] % 64          -- variant
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", b[i]) end
  local s = table.concat(h)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" ..
    s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

local function has_token(value, token)
  if not value then return false end
  for t in value:gmatch("[^,%s]+") do
    if t:lower() == token then return true end
  end
  return false
end

local function strip_query(target)
  local p = target:match("^[^?#]*") or target
  -- absolute-form: http://host:port/path
  local rest = p:match("^[%a][%w+.-]*://[^/]*(/.*)$")
  if rest then return rest end
  if p:match("^[%a][%w+.-]*://[^/]*$") then return "/" end
  return p
end

local function hex_decode(s)
  s = s:gsub("%s+", "")
  if #s % 2 ~= 0 or s:find("[^%x]") then
    error("body_hex is not valid hex")
  end
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  return data
end

-- {{base_url}}, {{header:<name>}}, {{request_id}}, {{date}}, {{date_offset:<s>}}
local function substitute(s, ctx)
  return (s:gsub("{{(.-)}}", function(key)
    if key == "base_url" then return base_url end
    if key == "request_id" then return ctx.request_id end
    if key == "date" then return http_date(gettime()) end
    local off = key:match("^date_offset:%s*([+-]?%d+%.?%d*)%s*$")
    if off then return http_date(gettime() + tonumber(off)) end
    local hname = key:match("^header:(.+)$")
    if hname then
      return (ctx.req and ctx.req.hmap[hname:lower()]) or ""
    end
    return nil -- unknown: keep as written
  end))
end

---------------------------------------------------------------------------
-- scheduler: every task is a coroutine that yields
--   ("r", sock, deadline) / ("w", sock, deadline) / ("sleep", nil, deadline)
-- and is resumed with "ready" or "timeout".
---------------------------------------------------------------------------

local tasks = {}

local function task_resume(t, ...)
  local ok, kind, sock, deadline = coroutine.resume(t.co, ...)
  if not ok then
    log_err("connection ", tostring(t.conn and t.conn.id), ": ", tostring(kind))
    if t.conn and not t.conn.closed then
      t.conn.closed = true
      open_conns = open_conns - 1
      pcall(t.conn.sock.close, t.conn.sock)
    end
    tasks[t] = nil
    return
  end
  if coroutine.status(t.co) == "dead" then
    tasks[t] = nil
    return
  end
  t.kind, t.sock, t.deadline = kind, sock, deadline
end

local function spawn(fn, conn)
  local t = { co = coroutine.create(fn), conn = conn }
  tasks[t] = true
  task_resume(t, conn)
end

local function wait_io(kind, sock, deadline)
  return coroutine.yield(kind, sock, deadline) == "ready"
end

local function sleep(seconds)
  seconds = tonumber(seconds) or 0
  if seconds <= 0 then return end
  coroutine.yield("sleep", nil, gettime() + seconds)
end

---------------------------------------------------------------------------
-- connection I/O (inside a task)
---------------------------------------------------------------------------

local function wait_for(c, err, deadline)
  if err == "timeout" or err == "wantread" then
    return wait_io("r", c.sock, deadline)
  elseif err == "wantwrite" then
    return wait_io("w", c.sock, deadline)
  end
  return false
end

-- returns some bytes, or nil, "closed"/"timeout"/error
local function recv_some(c, deadline)
  for _ = 1, 1e9 do
    local data, err, partial = c.sock:receive(16384)
    if data then return data end
    if partial and #partial > 0 then return partial end
    if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then
      return nil, err or "closed"
    end
    if not wait_for(c, err, deadline) then return nil, "timeout" end
  end
  return nil, "timeout"
end

local function send_all(c, data, deadline)
  deadline = deadline or (gettime() + IO_TIMEOUT)
  local i, n = 1, #data
  for _ = 1, 1e9 do
    if i > n then return true end
    local last, err, plast = c.sock:send(data, i)
    if last then
      i = last + 1
    else
      if plast and plast >= i then i = plast + 1 end
      if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then
        return nil, err
      end
      if i <= n and not wait_for(c, err, deadline) then return nil, "timeout" end
    end
  end
  return nil, "timeout"
end

local function read_exact(c, n, deadline)
  local parts, have = {}, 0
  if #c.buf > 0 then
    local take = c.buf:sub(1, n)
    c.buf = c.buf:sub(#take + 1)
    parts[1] = take
    have = #take
  end
  while have < n do
    local data, err = recv_some(c, deadline)
    if not data then return nil, err end
    local need = n - have
    if #data > need then
      c.buf = data:sub(need + 1)
      data = data:sub(1, need)
    end
    parts[#parts + 1] = data
    have = have + #data
  end
  return table.concat(parts)
end

local function read_line(c, deadline)
  for _ = 1, 1e9 do
    local s, e = c.buf:find("\r?\n")
    if s then
      local line = c.buf:sub(1, s - 1)
      c.buf = c.buf:sub(e + 1)
      return line
    end
    if #c.buf > MAX_LINE then return nil, "line too long" end
    local data, err = recv_some(c, deadline)
    if not data then return nil, err end
    c.buf = c.buf .. data
  end
  return nil, "timeout"
end

local function close_conn(c)
  if c.closed then return end
  c.closed = true
  open_conns = open_conns - 1
  pcall(c.sock.close, c.sock)
end

local function simple_response(c, status, message, keep)
  local body = cjson.encode({ message = message })
  local head = string.format(
    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n",
    status, REASONS[status] or "Error", #body, keep and "" or "Connection: close\r\n")
  return send_all(c, head .. body)
end

---------------------------------------------------------------------------
-- request parsing
---------------------------------------------------------------------------

-- returns req, or nil, err, status (status: an HTTP error to send back)
local function read_request(c)
  local deadline = gettime() + (c.nreq == 0 and FIRST_REQUEST_IDLE or KEEPALIVE_IDLE)
  local scan_from = 1
  local hs, he
  for _ = 1, 1e9 do
    local lead = c.buf:match("^[\r\n]+")
    if lead then
      c.buf = c.buf:sub(#lead + 1)
      scan_from = 1
    end
    if #c.buf > 0 then
      hs, he = c.buf:find("\r?\n\r?\n", scan_from)
      if hs then break end
      if #c.buf > MAX_HEAD then return nil, "header block too large", 431 end
      scan_from = max(1, #c.buf - 3)
    end
    local data, err = recv_some(c, deadline)
    if not data then return nil, err end
    c.buf = c.buf .. data
  end
  if not hs then return nil, "timeout" end
  if hs - 1 > MAX_HEAD then return nil, "header block too large", 431 end
  local head = c.buf:sub(1, hs - 1)
  c.buf = c.buf:sub(he + 1)
  local received_at = gettime()

  local lines = {}
  for line in (head .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line:gsub("\r$", "")
  end
  local method, target, major, minor = lines[1]:match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method then return nil, "malformed request line", 400 end
  if major ~= "1" then return nil, "unsupported HTTP version", 505 end

  local headers, hmap = {}, {}
  for i = 2, #lines do
    local line = lines[i]
    if line:match("^[ \t]") and #headers > 0 then
      -- obsolete line folding
      local h = headers[#headers]
      h[2] = h[2] .. " " .. line:match("^%s*(.-)%s*$")
      hmap[h[1]:lower()] = h[2]
    else
      local name, value = line:match("^([!#$%%&'*+%-.^_`|~%w]+):[ \t]*(.-)[ \t]*$")
      if not name then return nil, "malformed header line", 400 end
      headers[#headers + 1] = { name, value }
      local lname = name:lower()
      if hmap[lname] then
        hmap[lname] = hmap[lname] .. ", " .. value
      else
        hmap[lname] = value
      end
    end
  end

  local req = {
    method = method,
    target = target,
    path = strip_query(target),
    version = major .. "." .. minor,
    headers = headers,
    hmap = hmap,
    received_at = received_at,
  }

  local chunked = has_token(hmap["transfer-encoding"], "chunked")
  local clen
  if not chunked and hmap["content-length"] then
    local v
    for part in hmap["content-length"]:gmatch("[^,]+") do
      part = part:match("^%s*(.-)%s*$")
      if not part:match("^%d+$") or (v and v ~= part) then
        return nil, "bad Content-Length", 400
      end
      v = part
    end
    clen = tonumber(v)
    if clen > MAX_BODY then return nil, "body too large", 413 end
  end

  if (chunked or (clen and clen > 0)) and has_token(hmap["expect"], "100-continue")
      and req.version == "1.1" then
    local ok, err = send_all(c, "HTTP/1.1 100 Continue\r\n\r\n")
    if not ok then return nil, err end
  end

  local body_deadline = gettime() + IO_TIMEOUT
  if chunked then
    local parts, total = {}, 0
    for _ = 1, 1e9 do
      local line, err = read_line(c, body_deadline)
      if not line then return nil, err, err == "line too long" and 400 or nil end
      local size = line:match("^%s*(%x+)")
      if not size then return nil, "bad chunk size", 400 end
      size = tonumber(size, 16)
      if size == 0 then
        for _ = 1, 1000 do -- trailers
          local tl, terr = read_line(c, body_deadline)
          if not tl then return nil, terr end
          if tl == "" then break end
        end
        break
      end
      total = total + size
      if total > MAX_BODY then return nil, "body too large", 413 end
      local data, derr = read_exact(c, size, body_deadline)
      if not data then return nil, derr end
      parts[#parts + 1] = data
      local crlf, cerr = read_line(c, body_deadline)
      if not crlf then return nil, cerr end
      if crlf ~= "" then return nil, "bad chunk terminator", 400 end
    end
    req.body = table.concat(parts)
  elseif clen and clen > 0 then
    local data, err = read_exact(c, clen, body_deadline)
    if not data then return nil, err end
    req.body = data
  else
    req.body = ""
  end
  return req
end

---------------------------------------------------------------------------
-- responses
---------------------------------------------------------------------------

local BODY_FIELDS = { "body", "body_json", "body_hex", "body_repeat" }

local function load_fixture(name)
  if type(name) ~= "string" or name == "" or name:find("%.%.") then
    error("bad fixture name " .. tostring(name))
  end
  local path = opts.fixtures .. "/" .. name .. ".json"
  local data, err = read_file(path)
  if not data then error("cannot read fixture " .. name .. ": " .. tostring(err)) end
  local ok, decoded = pcall(cjson.decode, data)
  if not ok or type(decoded) ~= "table" then
    error("fixture " .. name .. " is not a JSON object: " .. tostring(decoded))
  end
  return decoded
end

-- merge a scripted resp with its fixture; fields in resp win
local function resolve(resp)
  if type(resp) ~= "table" then error("response must be an object") end
  local r = {}
  if resp.fixture ~= nil then
    local fx = load_fixture(resp.fixture)
    for k, v in pairs(fx) do r[k] = v end
    local overrides_body = false
    for _, f in ipairs(BODY_FIELDS) do
      if resp[f] ~= nil then overrides_body = true end
    end
    if overrides_body then
      for _, f in ipairs(BODY_FIELDS) do r[f] = nil end
    end
  end
  for k, v in pairs(resp) do
    if k ~= "fixture" then r[k] = v end
  end
  for k, v in pairs(r) do
    if v == cjson.null then r[k] = nil end
  end
  return r
end

local function string_source(s)
  return { len = #s, piece = function(off, n) return s:sub(off + 1, off + n) end }
end

local function repeat_source(spec)
  if type(spec) ~= "table" then error("body_repeat must be {text=, count=}") end
  local text = tostring(spec.text or "")
  local count = floor(tonumber(spec.count) or 0)
  if #text == 0 or count <= 0 then return string_source("") end
  local period = #text
  local reps = max(1, floor(SEND_PIECE / period))
  local block = text:rep(reps + 1)
  local span = reps * period
  return {
    len = period * count,
    piece = function(off, n)
      local start = off % period
      return block:sub(start + 1, start + min(n, span))
    end,
  }
end

local function body_source(r, ctx)
  if r.body_hex ~= nil then
    return string_source(hex_decode(tostring(r.body_hex)))
  elseif r.body_repeat ~= nil then
    return repeat_source(r.body_repeat)
  elseif r.body_json ~= nil then
    return string_source(substitute(cjson.encode(r.body_json), ctx))
  elseif type(r.body) == "table" then
    return string_source(substitute(cjson.encode(r.body), ctx))
  elseif r.body ~= nil then
    return string_source(substitute(tostring(r.body), ctx))
  end
  return string_source("")
end

local FAULTS = {
  close_before_headers = true, close_mid_headers = true, close_mid_body = true,
  stall_before_headers = true, stall_mid_body = true,
}

-- send body bytes [0, limit) of src; chunked framing if asked
local function send_body(c, src, limit, chunked, chunk_size, final)
  local off = 0
  local deadline = gettime() + IO_TIMEOUT
  for _ = 1, 1e9 do
    if off >= limit then break end
    local want = min(chunked and chunk_size or SEND_PIECE, limit - off)
    local piece = src.piece(off, want)
    if #piece == 0 then break end
    local out = piece
    if chunked then
      out = string.format("%x\r\n", #piece) .. piece .. "\r\n"
    end
    local ok, err = send_all(c, out, deadline)
    if not ok then return nil, err end
    off = off + #piece
    deadline = gettime() + IO_TIMEOUT
  end
  if chunked and final then
    return send_all(c, "0\r\n\r\n")
  end
  return true
end

-- returns true to keep the connection open
local function send_response(c, req, resp, keep)
  local ctx = { req = req, request_id = new_request_id() }
  local ok, r = pcall(resolve, resp)
  if ok and r.fault ~= nil and not FAULTS[r.fault] then
    ok, r = false, "unknown fault " .. tostring(r.fault)
  end
  local src
  if ok then
    local sok, s = pcall(body_source, r, ctx)
    if sok then src = s else ok, r = false, s end
  end
  if not ok then
    local msg = tostring(r)
    log_err("bad scripted response: ", msg)
    r = { status = 500, headers = { { "Content-Type", "application/json" } } }
    src = string_source(cjson.encode({ message = "replay: " .. msg }))
  end

  if r.delay then sleep(r.delay) end
  local fault = r.fault
  if fault == "close_before_headers" then return false end
  if fault == "stall_before_headers" then
    sleep(r.stall or DEFAULT_STALL)
    return false
  end
  if r.raw ~= nil then
    send_all(c, tostring(r.raw))
    return false
  end

  local status = floor(tonumber(r.status) or 200)
  local reason = r.reason or REASONS[status] or "Unknown"
  local chunked = r.chunked == true
  local no_cl = r.no_content_length == true
  local close_after = (not keep) or r.close == true or no_cl or fault ~= nil

  local remove = {}
  if type(r.remove_headers) == "table" then
    for _, n in ipairs(r.remove_headers) do remove[tostring(n):lower()] = true end
  end
  local lines = { string.format("HTTP/1.1 %d %s", status, reason) }
  local have = {}
  local function add(name, value)
    name = tostring(name)
    if remove[name:lower()] then return end
    value = type(value) == "string" and substitute(value, ctx) or tostring(value)
    lines[#lines + 1] = name .. ": " .. value
    have[name:lower()] = true
  end
  for _, list in ipairs({ r.headers, r.add_headers }) do
    if type(list) == "table" then
      for _, h in ipairs(list) do
        if type(h) == "table" and h[1] ~= nil then add(h[1], h[2] == nil and "" or h[2]) end
      end
    end
  end
  if type(r.header_repeat) == "table" then
    local reps = r.header_repeat
    if reps.name ~= nil then reps = { reps } end
    for _, hr in ipairs(reps) do
      lines[#lines + 1] = tostring(hr.name) .. ": " ..
        tostring(hr.text or "a"):rep(floor(tonumber(hr.count) or 0))
    end
  end
  local bodyless = status < 200 or status == 204 or status == 304
  if chunked then
    if not have["transfer-encoding"] then lines[#lines + 1] = "Transfer-Encoding: chunked" end
  elseif not no_cl and not bodyless and not have["content-length"] then
    lines[#lines + 1] = "Content-Length: " .. src.len
  end
  if close_after and not have["connection"] then
    lines[#lines + 1] = "Connection: close"
  end
  local head = table.concat(lines, "\r\n") .. "\r\n\r\n"

  if fault == "close_mid_headers" then
    send_all(c, head:sub(1, floor(#head / 2)))
    return false
  end
  local sok = send_all(c, head)
  if not sok then return false end
  if req.method == "HEAD" or bodyless then return not close_after end

  local chunk_size = floor(tonumber(r.chunk_size) or 0)
  if chunk_size <= 0 then
    chunk_size = src.len <= 32768 and max(1, floor((src.len + 1) / 2)) or 16384
  end
  if fault == "close_mid_body" or fault == "stall_mid_body" then
    send_body(c, src, floor(src.len / 2), chunked, chunk_size, false)
    if fault == "stall_mid_body" then sleep(r.stall or DEFAULT_STALL) end
    return false
  end
  local bok = send_body(c, src, src.len, chunked, chunk_size, true)
  if not bok then return false end
  return not close_after
end

local function pick_response(req)
  local route = script.routes[req.method .. " " .. req.path] or script.routes[req.path]
  if route and #route.list > 0 then
    local r = route.list[route.idx]
    if route.idx < #route.list then route.idx = route.idx + 1 end
    return r
  end
  if script.default ~= nil then return script.default end
  return {
    status = 404,
    headers = { { "Content-Type", "application/json" } },
    body = '{"message":"no route"}',
  }
end

---------------------------------------------------------------------------
-- control endpoints
---------------------------------------------------------------------------

local function encode_log()
  local out = {}
  for i, e in ipairs(traffic) do
    local hs = {}
    for j, h in ipairs(e.headers) do
      hs[j] = "[" .. cjson.encode(h[1]) .. "," .. cjson.encode(h[2]) .. "]"
    end
    out[i] = string.format(
      '{"method":%s,"target":%s,"path":%s,"http_version":%s,"headers":[%s],' ..
      '"body":%s,"connection":%d,"received_at":%.6f}',
      cjson.encode(e.method), cjson.encode(e.target), cjson.encode(e.path),
      cjson.encode(e.version), table.concat(hs, ","), cjson.encode(e.body),
      e.connection, e.received_at)
  end
  return "[" .. table.concat(out, ",") .. "]"
end

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function set_script(body)
  local ok, s = pcall(cjson.decode, body ~= "" and body or "{}")
  if not ok or type(s) ~= "table" then return nil, "script is not a JSON object" end
  local routes = {}
  if s.routes ~= nil and s.routes ~= cjson.null then
    if type(s.routes) ~= "table" then return nil, "routes must be an object" end
    for key, list in pairs(s.routes) do
      if type(key) ~= "string" then return nil, "route keys must be strings" end
      if type(list) ~= "table" then return nil, "route " .. key .. " must be a list" end
      if not is_array(list) then list = { list } end -- a single resp
      local method, path = key:match("^(%u+)%s+(/%S*)$")
      local norm = method and (method .. " " .. strip_query(path)) or strip_query(key)
      routes[norm] = { list = list, idx = 1 }
    end
  end
  local default = s.default
  if default == cjson.null then default = nil end
  script = { routes = routes, default = default }
  return true
end

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- returns keep-alive flag
local function control(c, req, keep)
  local function reply(status, body)
    local head = string.format(
      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n",
      status, REASONS[status] or "OK", #body, keep and "" or "Connection: close\r\n")
    return send_all(c, head .. body) and keep
  end
  local m, p = req.method, req.path
  if p == "/__replay/script" and (m == "POST" or m == "PUT") then
    local ok, err = set_script(req.body)
    if not ok then return reply(400, cjson.encode({ message = err })) end
    return reply(200, '{"ok":true}')
  elseif p == "/__replay/requests" and m == "GET" then
    return reply(200, encode_log())
  elseif p == "/__replay/reset" and m == "POST" then
    traffic = {}
    script = { routes = {}, default = nil }
    seen_conns = {}
    return reply(200, '{"ok":true}')
  elseif p == "/__replay/stats" and m == "GET" then
    return reply(200, string.format(
      '{"connections":%d,"requests":%d,"accepted":%d,"open":%d}',
      count_keys(seen_conns), #traffic, total_accepted, open_conns))
  elseif p == "/__replay/ping" and m == "GET" then
    return reply(200, '{"ok":true}')
  elseif p == "/__replay/shutdown" and m == "POST" then
    keep = false
    reply(200, '{"ok":true}')
    stopping = true
    return false
  end
  return reply(404, '{"message":"unknown control endpoint"}')
end

---------------------------------------------------------------------------
-- connection task
---------------------------------------------------------------------------

local function tls_handshake(c)
  local s, err = ssl.wrap(c.sock, tls_ctx)
  if not s then
    log_err("tls wrap failed: ", tostring(err))
    return false
  end
  c.sock = s
  s:settimeout(0)
  local deadline = gettime() + HANDSHAKE_TIMEOUT
  for _ = 1, 1e9 do
    local ok, herr = s:dohandshake()
    if ok then return true end
    if herr ~= "timeout" and herr ~= "wantread" and herr ~= "wantwrite" then
      return false
    end
    if not wait_for(c, herr, deadline) then return false end
  end
  return false
end

local function handle_connection(c)
  if tls_ctx and not tls_handshake(c) then
    close_conn(c)
    return
  end
  for _ = 1, MAX_REQUESTS_PER_CONN do
    local req, err, status = read_request(c)
    if not req then
      if status then simple_response(c, status, tostring(err), false) end
      break
    end
    local first = c.nreq == 0
    c.nreq = c.nreq + 1
    local keep = req.version == "1.1" and not has_token(req.hmap.connection, "close")
    local again
    if req.path:sub(1, 10) == "/__replay/" then
      if first then seen_conns[c.id] = nil end
      again = control(c, req, keep)
    else
      seen_conns[c.id] = true
      traffic[#traffic + 1] = {
        method = req.method, target = req.target, path = req.path,
        version = req.version, headers = req.headers, body = req.body,
        connection = c.id, received_at = req.received_at,
      }
      again = send_response(c, req, pick_response(req), keep)
    end
    if not again or stopping then break end
  end
  close_conn(c)
end

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

if opts.cert then
  local ok, mod = pcall(require, "ssl")
  if not ok then usage("--tls needs luasec: " .. tostring(mod)) end
  ssl = mod
  local ctx, err = ssl.newcontext({
    mode = "server",
    protocol = "any",
    certificate = opts.cert,
    key = opts.key,
    verify = "none",
    options = { "all" },
  })
  if not ctx then usage("cannot load TLS certificate/key: " .. tostring(err)) end
  tls_ctx = ctx
end

local listener = assert(socket.tcp())
listener:setoption("reuseaddr", true)
do
  local ok, err = listener:bind("127.0.0.1", opts.port)
  if not ok then
    io.stderr:write("replay_server: cannot bind 127.0.0.1:", tostring(opts.port), ": ",
      tostring(err), "\n")
    os.exit(1)
  end
end
assert(listener:listen(1024))
listener:settimeout(0)
local _, port = listener:getsockname()
port = tonumber(port)
base_url = (tls_ctx and "https" or "http") .. "://127.0.0.1:" .. port

io.stdout:write("PORT ", port, "\n")
io.stdout:flush()

local hard_deadline = gettime() + opts.lifetime

local dropped, last_drop_log = 0, 0

local function accept_new()
  for _ = 1, 256 do
    local s = listener:accept()
    if not s then return end
    total_accepted = total_accepted + 1
    local fd = s.getfd and s:getfd() or 0
    if fd >= MAX_FD then
      dropped = dropped + 1
      if gettime() - last_drop_log >= 1 then
        last_drop_log = gettime()
        log_err("too many open connections; dropped ", dropped, " so far")
      end
      s:close()
    else
      s:settimeout(0)
      s:setoption("tcp-nodelay", true)
      next_conn_id = next_conn_id + 1
      open_conns = open_conns + 1
      local c = { sock = s, id = next_conn_id, buf = "", nreq = 0 }
      seen_conns[c.id] = true
      spawn(handle_connection, c)
    end
  end
end

for _ = 1, 1e12 do
  if stopping then break end
  local now = gettime()
  if now >= hard_deadline then break end
  local rset, wset = { listener }, {}
  local nearest = hard_deadline
  for t in pairs(tasks) do
    if t.kind == "r" then
      rset[#rset + 1] = t.sock
    elseif t.kind == "w" then
      wset[#wset + 1] = t.sock
    end
    if t.deadline and t.deadline < nearest then nearest = t.deadline end
  end
  local timeout = max(0, min(nearest - now, 1))
  local ok, rr, ww = pcall(socket.select, rset, wset, timeout)
  if not ok then
    log_err("select failed: ", tostring(rr))
    rr, ww = {}, {}
    socket.sleep(0.01)
  end
  rr, ww = rr or {}, ww or {}
  if rr[listener] then accept_new() end
  now = gettime()
  local ready = {}
  for t in pairs(tasks) do
    if (t.kind == "r" and rr[t.sock]) or (t.kind == "w" and ww[t.sock]) then
      ready[#ready + 1] = { t, "ready" }
    elseif t.deadline and now >= t.deadline then
      ready[#ready + 1] = { t, "timeout" }
    end
  end
  for _, rt in ipairs(ready) do
    if tasks[rt[1]] then task_resume(rt[1], rt[2]) end
  end
end

pcall(listener.close, listener)
for t in pairs(tasks) do
  if t.conn then pcall(t.conn.sock.close, t.conn.sock) end
end
os.exit(0)
