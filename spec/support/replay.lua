-- Spec-side handle on spec/support/replay_server.lua.
--
--   local replay = require "spec.support.replay"
--   local srv = replay.start{ tls = { cert = c, key = k }, lifetime = 300 }
--   srv:script({ ["/v1/get-ice-server-config"] = { { fixture = "get_ice_server_config_ok" } } })
--   ... exercise the module against srv.url ...
--   local log = srv:requests()
--   srv:stop()
--
-- Control requests use luasocket (plus luasec in TLS mode), never the module
-- under test.

local socket = require "socket"
local cjson = require "cjson"

local M = {}

local CONTROL_TIMEOUT = 5      -- seconds, per control request
local START_TIMEOUT = 10       -- seconds to wait for "PORT <n>"
local STOP_TIMEOUT = 3         -- seconds to wait for a clean exit

-- cjson hands back floats under Lua 5.3+; keep ids and counters integers
local function int(n)
  if type(n) == "number" and math.tointeger then return math.tointeger(n) or n end
  return n
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function os_ok(...)
  local a, _, c = ...
  if type(a) == "number" then return a == 0 end -- Lua 5.1 / LuaJIT
  return a == true and (c == nil or c == 0)
end

local cwd_cache
local function cwd()
  if not cwd_cache then
    local p = io.popen("pwd")
    cwd_cache = p and p:read("*l") or os.getenv("PWD") or "."
    if p then p:close() end
  end
  return cwd_cache
end

local function abs_path(p)
  if p:sub(1, 1) == "/" then return p end
  p = p:gsub("^%./", "")
  return cwd() .. "/" .. p
end

local function here()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or nil
  return abs_path(dir or "spec/support")
end

M.server_path = here() .. "/replay_server.lua"
M.fixtures_dir = here():gsub("/support$", "") .. "/fixtures/responses"

-- Whether a process is running (not a zombie); nginx.lua uses it too.
local function pid_alive(pid)
  local probe = io.open("/proc/self/stat", "r")
  if probe then
    probe:close()
    local f = io.open("/proc/" .. pid .. "/stat", "r")
    if not f then return false end
    local stat = f:read("*l") or ""
    f:close()
    local state = stat:match("^%d+ %b() (%a)")
    return state ~= nil and state ~= "Z" and state ~= "X"
  end
  return os_ok(os.execute("kill -0 " .. pid .. " 2>/dev/null"))
end
M.pid_alive = pid_alive

---------------------------------------------------------------------------
-- minimal HTTP client for the control endpoints
---------------------------------------------------------------------------

local function control_request(self, method, path, body)
  body = body or ""
  local c = assert(socket.tcp())
  c:settimeout(CONTROL_TIMEOUT)
  local ok, err = c:connect("127.0.0.1", self.port)
  if not ok then
    c:close()
    error("replay: cannot reach server on port " .. tostring(self.port) .. ": " .. tostring(err), 3)
  end
  if self.tls then
    local ssl = require "ssl"
    local s, werr = ssl.wrap(c, { mode = "client", protocol = "any", verify = "none" })
    if not s then
      c:close()
      error("replay: TLS wrap failed: " .. tostring(werr), 3)
    end
    c = s
    c:settimeout(CONTROL_TIMEOUT)
    local hok, herr = c:dohandshake()
    if not hok then
      c:close()
      error("replay: TLS handshake failed: " .. tostring(herr), 3)
    end
  end
  local req = table.concat({
    method .. " " .. path .. " HTTP/1.1",
    "Host: 127.0.0.1:" .. self.port,
    "Content-Type: application/json",
    "Content-Length: " .. #body,
    "Connection: close",
    "", "",
  }, "\r\n") .. body
  local sent, serr = c:send(req)
  if not sent then
    c:close()
    error("replay: control request failed: " .. tostring(serr), 3)
  end
  local status_line, rerr = c:receive("*l")
  if not status_line then
    c:close()
    error("replay: no answer to " .. method .. " " .. path .. ": " .. tostring(rerr), 3)
  end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  local clen
  for _ = 1, 200 do
    local line = c:receive("*l")
    if not line or line == "" then break end
    local n, v = line:match("^([^:]+):%s*(.-)%s*$")
    if n and n:lower() == "content-length" then clen = tonumber(v) end
  end
  local data
  if clen then
    data = clen > 0 and c:receive(clen) or ""
  else
    data = c:receive("*a")
  end
  c:close()
  if not data then
    error("replay: truncated answer to " .. method .. " " .. path, 3)
  end
  local dok, decoded = pcall(cjson.decode, data)
  if not dok then
    error("replay: bad JSON from " .. path .. ": " .. tostring(decoded), 3)
  end
  if status ~= 200 then
    error("replay: " .. method .. " " .. path .. " -> " .. tostring(status) .. " " .. data, 3)
  end
  return decoded
end

---------------------------------------------------------------------------
-- server handle
---------------------------------------------------------------------------

local Server = {}
Server.__index = Server

-- routes: { ["/path"] = {resp, ...}, ["METHOD /path"] = {resp, ...} }
-- default: resp for unmatched requests (optional)
function Server:script(routes, default)
  local payload = { routes = routes or {} }
  if default ~= nil then payload.default = default end
  local body = cjson.encode(payload)
  -- cjson writes an empty Lua table as {}; that is what routes needs anyway
  control_request(self, "POST", "/__replay/script", body)
  return self
end

function Server:requests()
  local log = control_request(self, "GET", "/__replay/requests")
  for _, e in ipairs(log) do e.connection = int(e.connection) end
  return log
end

function Server:stats()
  local st = control_request(self, "GET", "/__replay/stats")
  for k, v in pairs(st) do st[k] = int(v) end
  return st
end

function Server:reset()
  control_request(self, "POST", "/__replay/reset")
  return self
end

function Server:alive()
  return self.pid ~= nil and pid_alive(self.pid)
end

function Server:stop()
  if self.stopped then return end
  self.stopped = true
  pcall(control_request, self, "POST", "/__replay/shutdown")
  if not self.pid then return end
  local deadline = socket.gettime() + STOP_TIMEOUT
  while socket.gettime() < deadline do
    if not pid_alive(self.pid) then return end
    socket.sleep(0.02)
  end
  os.execute("kill -9 " .. self.pid .. " 2>/dev/null")
end

---------------------------------------------------------------------------
-- module functions
---------------------------------------------------------------------------

-- opts: tls = {cert=, key=}, lifetime = seconds (default 300),
--       port = n (default 0 = ephemeral), fixtures = dir, lua = interpreter
--       (default $REPLAY_LUA or "lua5.4"), stderr = file to append server stderr to
function M.start(opts)
  opts = opts or {}
  local args = {
    "--port", tostring(opts.port or 0),
    "--lifetime", tostring(opts.lifetime or 300),
  }
  if opts.tls then
    assert(opts.tls.cert and opts.tls.key, "replay.start: tls needs cert and key")
    args[#args + 1] = "--tls"
    args[#args + 1] = abs_path(opts.tls.cert)
    args[#args + 1] = abs_path(opts.tls.key)
  end
  if opts.fixtures then
    args[#args + 1] = "--fixtures"
    args[#args + 1] = abs_path(opts.fixtures)
  end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = shell_quote(a) end
  local inner = shell_quote(opts.lua or os.getenv("REPLAY_LUA") or "lua5.4") .. " " .. shell_quote(M.server_path) ..
    " " .. table.concat(quoted, " ") .. " </dev/null"
  if opts.stderr then inner = inner .. " 2>>" .. shell_quote(opts.stderr) end
  -- The server runs in the background of a throw-away shell: the shell prints
  -- the server's pid and exits, so closing this pipe never waits for the
  -- server itself; the server prints "PORT <n>" on the inherited pipe.
  local cmd = "sh -c " .. shell_quote(inner .. " & echo \"PID $!\"")
  local pipe = assert(io.popen(cmd, "r"))
  local pid, port
  local deadline = socket.gettime() + START_TIMEOUT
  for _ = 1, 10 do
    if pid and port then break end
    if socket.gettime() > deadline then break end
    local line = pipe:read("*l")
    if not line then break end
    pid = pid or tonumber(line:match("^PID (%d+)"))
    port = port or tonumber(line:match("^PORT (%d+)"))
  end
  pipe:close()
  if not port then
    if pid then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    error("replay: server did not start (" .. cmd .. "); see its stderr above", 2)
  end
  local self = setmetatable({
    pid = pid,
    port = port,
    tls = opts.tls and true or false,
    url = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. port,
  }, Server)
  return self
end

-- first value of a header in a logged request (case-insensitive name)
function M.header(entry, name)
  name = name:lower()
  for _, h in ipairs(entry.headers or {}) do
    if h[1]:lower() == name then return h[2] end
  end
  return nil
end

-- self-signed certificate for CN=127.0.0.1, SAN IP:127.0.0.1 + DNS:localhost
function M.make_cert(dir)
  dir = abs_path(dir)
  assert(os_ok(os.execute("mkdir -p " .. shell_quote(dir))), "replay.make_cert: cannot create " .. dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local cmd = "openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 1" ..
    " -keyout " .. shell_quote(key) .. " -out " .. shell_quote(cert) ..
    " -subj /CN=127.0.0.1" ..
    " -addext " .. shell_quote("subjectAltName=IP:127.0.0.1,DNS:localhost") ..
    " >/dev/null 2>&1"
  if not os_ok(os.execute(cmd)) then
    error("replay.make_cert: openssl failed: " .. cmd, 2)
  end
  return cert, key
end

return M
