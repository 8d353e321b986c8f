-- Runs Debian's nginx (with the lua module) for the specs and the benchmark:
-- a separate process on 127.0.0.1 with a generated config, its own prefix
-- under a temporary directory, its own error log and a free port.
--
--   local nginx = require "spec.support.nginx"
--   local ng = nginx.start{
--       env = { KVS_SPEC_REPLAY_URL = srv.url },   -- exported and passed with `env`
--       http = "lua_shared_dict d 1m;",            -- extra http{} directives
--       server = "location /t { content_by_lua_block { ngx.say(1) } }",
--   }
--   local status, body = ng:get("/t")
--   local results, seconds = nginx.get_many(ng.port, { "/t", "/t" }, 10)
--   ng:stop()
--
-- nginx.start{ conf = text, prefix = dir } runs a complete config instead
-- (its "{{port}}" and "{{pid}}" replaced), as the example config is run.
-- Every wait is bounded; stop() ends the master and its workers by pid, and
-- each nginx ends itself after `lifetime` seconds (default 300) regardless.
local socket = require "socket"
local helpers = require "spec.support.helpers"

local M = {}

local START_TIMEOUT = 10
local STOP_TIMEOUT = 5
M.LIFETIME = 300 -- seconds a generated nginx lives at most

M.NGINX = os.getenv("KVS_NGINX") or "/usr/sbin/nginx"
M.MODULES = {
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

local function shell_quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function os_ok(a, _, c)
    if type(a) == "number" then return a == 0 end
    return a == true and (c == nil or c == 0)
end

local read_file, write_file = helpers.read_file, helpers.write_file

local function command_output(cmd)
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    return out
end

local function here()
    local src = debug.getinfo(1, "S").source
    local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "spec/support"
    if dir:sub(1, 1) ~= "/" then dir = command_output("pwd"):gsub("%s+$", "") .. "/" .. dir:gsub("^%./", "") end
    return dir
end

M.ROOT = here():gsub("/spec/support$", "")

-- lua_package_path / cpath for the tree's sources and its LuaJIT build.
M.LUA_PACKAGE_PATH = M.ROOT .. "/?.lua;" .. M.ROOT .. "/src/?.lua;/usr/share/lua/5.1/?.lua;;"
M.LUA_PACKAGE_CPATH = M.ROOT .. "/" .. (os.getenv("KVS_JIT_BUILD") or "build/jit")
    .. "/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;"

function M.available()
    if not os_ok(os.execute("test -x " .. shell_quote(M.NGINX))) then return false, M.NGINX .. " not found" end
    for _, m in ipairs(M.MODULES) do
        if not os_ok(os.execute("test -r " .. shell_quote(m))) then return false, m .. " not found" end
    end
    return true
end

-- A port nobody listens on right now (the kernel's choice).
function M.free_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

local pid_alive = require("spec.support.replay").pid_alive

-- The master's children (its workers), from /proc: no external tool, so
-- nothing here can hang (pgrep does, with libasan preloaded by make sanitize).
local function children(pid)
    local out = {}
    local f = io.open("/proc/" .. pid .. "/task/" .. pid .. "/children", "r")
    if not f then return out end
    for p in (f:read("*a") or ""):gmatch("%d+") do out[#out + 1] = p end
    f:close()
    return out
end

local function config(opts, prefix, port)
    local env_lines = {}
    for name in pairs(opts.env or {}) do env_lines[#env_lines + 1] = "env " .. name .. ";" end
    table.sort(env_lines)
    local modules = {}
    for _, m in ipairs(M.MODULES) do modules[#modules + 1] = "load_module " .. m .. ";" end
    return table.concat({
        table.concat(modules, "\n"),
        "worker_processes 1;",
        "daemon off;",
        "master_process on;",
        "pid " .. prefix .. "/logs/nginx.pid;",
        "error_log " .. prefix .. "/logs/error.log " .. (opts.log_level or "warn") .. ";",
        table.concat(env_lines, "\n"),
        "events { worker_connections 2048; }",
        "http {",
        "    access_log off;",
        "    client_body_temp_path " .. prefix .. "/tmp/body;",
        "    proxy_temp_path " .. prefix .. "/tmp/proxy;",
        "    fastcgi_temp_path " .. prefix .. "/tmp/fastcgi;",
        "    uwsgi_temp_path " .. prefix .. "/tmp/uwsgi;",
        "    scgi_temp_path " .. prefix .. "/tmp/scgi;",
        '    lua_package_path "' .. M.LUA_PACKAGE_PATH .. '";',
        '    lua_package_cpath "' .. M.LUA_PACKAGE_CPATH .. '";',
        opts.http or "",
        "    server {",
        "        listen 127.0.0.1:" .. port .. ";",
        opts.server or "",
        "    }",
        "}",
        "",
    }, "\n")
end

local Server = {}
Server.__index = Server

-- The error log so far (and what nginx wrote to stderr).
function Server:error_log()
    return (read_file(self.error_log_path) or "") .. (read_file(self.tmp .. "/logs/stdout.log") or "")
end

-- One GET; returns status, body, headers (lower-case names) or nil, err.
function Server:get(path, timeout)
    local results = M.get_many(self.port, { path }, timeout or 10)
    local r = results[1]
    if r.err then return nil, r.err end
    return r.status, r.body, r.headers
end

-- Every process of this nginx: the `timeout` launcher, the master, the workers.
function Server:processes()
    local list = { self.pid }
    for _, master in ipairs(children(self.pid)) do
        list[#list + 1] = master
        for _, w in ipairs(children(master)) do list[#list + 1] = w end
    end
    return list
end

function Server:stop()
    if self.stopped then return end
    self.stopped = true
    if not self.pid then return end
    local procs = self:processes()
    -- `timeout` passes TERM on to the master: a fast shutdown, workers too.
    os.execute("kill -TERM " .. self.pid .. " 2>/dev/null")
    local deadline = socket.gettime() + STOP_TIMEOUT
    while socket.gettime() < deadline do
        local any = false
        for _, p in ipairs(procs) do any = any or pid_alive(p) end
        if not any then break end
        socket.sleep(0.02)
    end
    for i = #procs, 1, -1 do
        if pid_alive(procs[i]) then os.execute("kill -KILL " .. procs[i] .. " 2>/dev/null") end
    end
    if not self.keep_prefix then os.execute("rm -rf " .. shell_quote(self.tmp)) end
end

local function try_start(opts, tmp)
    local prefix = opts.prefix or tmp
    local port = opts.port or M.free_port()
    for _, d in ipairs{ "conf", "logs", "tmp" } do
        assert(os_ok(os.execute("mkdir -p " .. shell_quote(tmp .. "/" .. d))))
    end
    local conf_path = tmp .. "/conf/nginx.conf"
    local text
    if opts.conf then
        text = opts.conf:gsub("{{port}}", tostring(port)):gsub("{{pid}}", tmp .. "/logs/nginx.pid")
    else
        text = config(opts, tmp, port)
    end
    write_file(conf_path, text)
    local error_log = tmp .. "/logs/error.log"
    local assigns = {}
    for name, value in pairs(opts.env or {}) do assigns[#assigns + 1] = name .. "=" .. shell_quote(value) end
    -- The master's LUA_PATH would leak into the workers' default path.
    -- `timeout` ends nginx after its lifetime should the process that
    -- started it die without stopping it.
    local inner = "unset LUA_PATH LUA_CPATH LUA_INIT; " .. table.concat(assigns, " ") .. " exec timeout -s TERM -k 5 "
        .. (opts.lifetime or M.LIFETIME) .. " " .. shell_quote(M.NGINX) .. " -p " .. shell_quote(prefix .. "/")
        .. " -c " .. shell_quote(conf_path) .. " -e " .. shell_quote(error_log)
        .. " </dev/null >>" .. shell_quote(tmp .. "/logs/stdout.log") .. " 2>&1"
    local p = assert(io.popen("sh -c " .. shell_quote(inner .. " & echo $!")))
    local pid = tonumber((p:read("*l") or ""):match("%d+"))
    p:close()
    local self = setmetatable({
        pid = pid, port = port, url = "http://127.0.0.1:" .. port, prefix = prefix, tmp = tmp,
        error_log_path = error_log, conf_path = conf_path,
    }, Server)
    local deadline = socket.gettime() + START_TIMEOUT
    while socket.gettime() < deadline do
        if not pid or not pid_alive(pid) then break end
        local c = socket.tcp()
        c:settimeout(0.2)
        local ok = c:connect("127.0.0.1", port)
        c:close()
        if ok and #self:processes() > 2 then return self end -- launcher, master, a worker
        socket.sleep(0.05)
    end
    local log = self:error_log()
    self.keep_prefix = true
    self:stop()
    return nil, log
end

-- opts: env, http, server, log_level, lifetime; or conf (+ prefix); port.
-- Returns a started server, or raises with nginx's error log.
function M.start(opts)
    opts = opts or {}
    local last
    for _ = 1, 3 do -- the free port may be taken between the check and the bind
        local tmp = command_output("mktemp -d /tmp/kvs-nginx.XXXXXX"):gsub("%s+$", "")
        assert(tmp ~= "", "nginx: mktemp failed")
        os.execute("chmod 755 " .. shell_quote(tmp))
        local srv, log = try_start(opts, tmp)
        if srv then return srv end
        os.execute("rm -rf " .. shell_quote(tmp))
        last = log
        if opts.port or not tostring(log):find("in use", 1, true) then break end
    end
    error("nginx did not start:\n" .. tostring(last), 2)
end

local function parse_response(raw)
    local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
    if not head then return { err = "no complete answer (" .. #raw .. " bytes)" } end
    local status = tonumber(head:match("^HTTP/%d%.%d (%d%d%d)"))
    local headers = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    return { status = status, headers = headers, body = body }
end

-- Sends every GET at once, each on its own connection (HTTP/1.0, so nginx
-- closes after the answer), and waits for all of them, at most `timeout`
-- seconds. Returns a list of { status, headers, body } or { err }, in the
-- order of `paths`, and the seconds the whole batch took.
function M.get_many(port, paths, timeout)
    local t0 = socket.gettime()
    local deadline = t0 + (timeout or 10)
    local conns, by_sock = {}, {}
    for i, path in ipairs(paths) do
        local c = assert(socket.tcp())
        c:settimeout(0)
        local conn = { sock = c, parts = {}, sent = 0,
                       out = "GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1:" .. port .. "\r\n\r\n" }
        local ok, err = c:connect("127.0.0.1", port)
        if not ok and err ~= "timeout" and err ~= "Operation already in progress" then
            conn.err, conn.done = "connect: " .. tostring(err), true
            c:close()
        end
        conns[i], by_sock[c] = conn, conn
    end
    while socket.gettime() < deadline do
        local readers, writers = {}, {}
        for _, conn in ipairs(conns) do
            if not conn.done then
                if conn.sent < #conn.out then writers[#writers + 1] = conn.sock
                else readers[#readers + 1] = conn.sock end
            end
        end
        if #readers == 0 and #writers == 0 then break end
        local r, w = socket.select(readers, writers, math.min(0.5, deadline - socket.gettime()))
        for _, s in ipairs(w or {}) do
            local conn = by_sock[s]
            local last, err, partial = s:send(conn.out, conn.sent + 1)
            conn.sent = last or partial or conn.sent
            if err and err ~= "timeout" then
                conn.err, conn.done = "send: " .. err, true
                s:close()
            end
        end
        for _, s in ipairs(r or {}) do
            local conn = by_sock[s]
            local data, err, partial = s:receive(65536)
            data = data or partial
            if data and data ~= "" then conn.parts[#conn.parts + 1] = data end
            if err == "closed" then
                conn.done = true
                s:close()
            elseif err and err ~= "timeout" then
                conn.err, conn.done = "receive: " .. err, true
                s:close()
            end
        end
    end
    local results = {}
    for i, conn in ipairs(conns) do
        if not conn.done then
            conn.err = "no answer within " .. tostring(timeout) .. " s"
            conn.sock:close()
        end
        results[i] = conn.err and { err = conn.err } or parse_response(table.concat(conn.parts))
    end
    return results, socket.gettime() - t0
end

-- Runs examples/openresty/nginx.conf as written but for its listen and pid
-- lines, which move to a free port and the run's own pid file.
function M.start_example(env)
    local conf = assert(read_file(M.ROOT .. "/examples/openresty/nginx.conf"))
    local n1, n2
    conf, n1 = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:{{port}};")
    conf, n2 = conf:gsub("pid /tmp/kvs%-ice%-servers%-nginx%.pid;", "pid {{pid}};")
    assert(n1 == 1, "the example's listen line changed")
    assert(n2 == 1, "the example's pid line changed")
    return M.start{ conf = conf, prefix = M.ROOT .. "/examples/openresty", env = env }
end

return M
