-- HTTP/1.1 over nginx cosockets (ngx.socket.tcp), for handlers running
-- inside nginx (rewrite, access, content phases and ngx.timer callbacks).
-- While it waits on the network it yields to nginx, so one worker keeps
-- serving other requests; a blocking libcurl call there would stall them all.
--
-- Same contract as every transport (see transport.lua): send(req) returns
-- { status, headers (lower-case names), body } or nil, err with err.code
-- TimeoutError, NetworkError or InvalidResponseError (body over
-- transport.MAX_BODY). req.timeout bounds the whole exchange,
-- req.connect_timeout the TCP connect.
--
-- Connections go back to nginx's per-worker cosocket pool after a complete
-- answer (one pool per scheme, host, port and verification mode; size and
-- idle time from lua_socket_pool_size and lua_socket_keepalive_timeout), so
-- later calls from any client in the worker reuse them, with their TLS.
--
-- TLS: sslhandshake sends the URL's host as SNI and, unless
-- verify_tls = false, verifies the chain and the host name. nginx cannot
-- take a CA file per socket, so the `ca_file` option does not apply here:
-- verification uses the bundle named by `lua_ssl_trusted_certificate` in
-- nginx.conf (for example /etc/ssl/certs/ca-certificates.crt, with
-- `lua_ssl_verify_depth 5;`). Without that directive every verified
-- handshake fails. Host names are resolved with nginx's `resolver`
-- directive, which must be set to reach AWS.
local errors = require "kinesis_video_signaling.errors"

local type, pairs, tostring, tonumber = type, pairs, tostring, tonumber
local concat, min, floor = table.concat, math.min, math.floor

local _M = {}

_M.MAX_HEADER = 64 * 1024 -- status line and header block
_M.MAX_LINE = 8 * 1024    -- chunk-size and trailer lines
_M.MAX_BODY = 1024 * 1024 -- transport.MAX_BODY, repeated so this file stands alone
local PIECE = 16 * 1024
local STALE_RETRIES = 3   -- fresh tries when a pooled connection turns out closed

local ngx = rawget(_G, "ngx")

local sessions = {}       -- pool name -> TLS session, for resumption
local warned_ca_file = false

local function fail(code, message, stale)
    return nil, errors.new(code, message), stale
end

-- scheme, host (IPv6 in brackets), port, target, Host header value; or nil, why.
local function parse_url(url)
    if type(url) ~= "string" then return nil, "url: must be a string" end
    local scheme, rest = url:match("^(%a[%w+.%-]*)://(.*)$")
    scheme = scheme and scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then return nil, "bad url (scheme must be http or https)" end
    local authority, target = rest:match("^([^/?#]*)([^#]*)")
    if authority:find("@", 1, true) then return nil, "bad url (user information is not supported)" end
    local host, port = authority:match("^(%[[%x:.]+%]):?(%d*)$")
    if not host then host, port = authority:match("^([^:%[%]]+):?(%d*)$") end
    if not host then return nil, "bad url (no valid host)" end
    port = port ~= "" and tonumber(port) or (scheme == "https" and 443 or 80)
    if port < 1 or port > 65535 then return nil, "bad url (port out of range)" end
    if target == "" then target = "/" elseif target:sub(1, 1) == "?" then target = "/" .. target end
    if target:find("[%s%z]") then return nil, "bad url (blanks in the path)" end
    return scheme, host:lower(), port, target, authority
end

local function is_ip(host)
    return host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:sub(1, 1) == "["
end

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

-- The request head, or nil, why. Host (as signed), Content-Length and
-- Connection are written here; the caller's copies of the latter two and of
-- Transfer-Encoding are dropped.
local function request_head(req, target, authority)
    local method = req.method or "GET"
    if type(method) ~= "string" or not method:match(TOKEN) then return nil, "method: must be an HTTP method" end
    local lines, host = { method .. " " .. target .. " HTTP/1.1" }, nil
    local function add(name, value)
        if type(value) == "number" then value = tostring(value) end
        if type(value) ~= "string" or value:find("[%z\r\n]") then
            return "headers: invalid value for " .. name
        end
        lines[#lines + 1] = name .. ": " .. value
    end
    for name, value in pairs(req.headers or {}) do
        if type(name) ~= "string" or not name:match(TOKEN) then return nil, "headers: invalid header name" end
        local lower = name:lower()
        if lower == "host" then
            if type(value) ~= "string" or value:find("[%z\r\n]") then return nil, "headers: invalid Host" end
            host = value
        elseif lower ~= "content-length" and lower ~= "connection" and lower ~= "transfer-encoding" then
            local why
            if type(value) == "table" then
                for _, v in ipairs(value) do
                    why = why or add(name, v)
                end
            else
                why = add(name, value)
            end
            if why then return nil, why end
        end
    end
    lines[#lines + 1] = "Host: " .. (host or authority)
    local body = req.body
    if body ~= nil and type(body) ~= "string" then return nil, "body: must be a string" end
    if body or method == "POST" or method == "PUT" or method == "PATCH" then
        lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
    end
    lines[#lines + 1] = "Connection: keep-alive"
    lines[#lines + 1] = ""
    lines[#lines + 1] = ""
    return concat(lines, "\r\n")
end

local function clock()
    ngx.update_time()
    return ngx.now()
end

-- Sets the socket's timeout to what is left before the deadline; false when
-- nothing is left.
local function arm(sock, deadline)
    local left = deadline - clock()
    if left <= 0 then return false end
    sock:settimeout(floor(left * 1000) + 1)
    return true
end

local function io_error(stage, err, stale)
    if err == "timeout" then return fail("TimeoutError", "timed out (" .. stage .. ")") end
    if err == "connection refused" then return fail("NetworkError", "connection refused") end
    if err == "closed" and stage == "reading the status line" then
        return fail("NetworkError", "empty reply from server", stale)
    end
    return fail("NetworkError", stage .. " failed (" .. tostring(err) .. ")", stale)
end

-- Reads up to and excluding `boundary`, at most `cap` bytes. Returns the
-- data, or nil, err, bytes_seen (err "too large" past the cap).
local function read_until(sock, boundary, cap)
    local reader = sock:receiveuntil(boundary)
    local parts, size = {}, 0
    while true do
        local data, err, partial = reader(PIECE)
        if err then return nil, err, size + (partial and #partial or 0) end
        if not data then break end
        size = size + #data
        if size > cap then return nil, "too large", size end
        parts[#parts + 1] = data
    end
    return concat(parts)
end

-- Lower-cased names; repeated headers joined with ", ".
local function parse_head(head)
    local version, status = head:match("^HTTP/(%d%.%d) (%d%d%d)")
    if not version then return nil end
    local headers, last = {}, nil
    for line in head:gmatch("\n([^\n]*)") do
        line = line:gsub("\r$", "")
        if line:match("^[ \t]") and last then
            headers[last] = headers[last] .. " " .. line:match("^%s*(.-)%s*$")
        else
            local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
            if name then
                name = name:lower()
                headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
                last = name
            end
        end
    end
    return tonumber(status), headers, version
end

local function has_token(value, token)
    if not value then return false end
    for t in value:gmatch("[^,%s]+") do
        if t:lower() == token then return true end
    end
    return false
end

local function too_large(max_body)
    return fail("InvalidResponseError", "response body too large (over " .. max_body .. " bytes)")
end

local function read_chunked(sock, deadline, max_body)
    local parts, total = {}, 0
    while true do
        if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the body)") end
        local line, err = read_until(sock, "\r\n", _M.MAX_LINE)
        if not line then
            if err == "too large" then return fail("NetworkError", "malformed response (chunk size line too long)") end
            return io_error("reading the body", err)
        end
        local hex = line:match("^%s*(%x+)%s*$") or line:match("^%s*(%x+)%s*;")
        if not hex or #hex > 15 then return fail("NetworkError", "malformed response (bad chunk size)") end
        local size = tonumber(hex, 16)
        if size == 0 then
            -- Trailers, up to the empty line; ignored.
            local trailer_bytes = 0
            while true do
                if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the body)") end
                local trailer, terr = read_until(sock, "\r\n", _M.MAX_LINE)
                if not trailer then return io_error("reading the body", terr) end
                if trailer == "" then break end
                trailer_bytes = trailer_bytes + #trailer
                if trailer_bytes > _M.MAX_HEADER then
                    return fail("NetworkError", "malformed response (trailers too large)")
                end
            end
            return concat(parts)
        end
        if total + size > max_body then return too_large(max_body) end
        if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the body)") end
        local data, derr = sock:receive(size)
        if not data then return io_error("reading the body", derr) end
        local crlf, cerr = sock:receive(2)
        if not crlf then return io_error("reading the body", cerr) end
        if crlf ~= "\r\n" then return fail("NetworkError", "malformed response (bad chunk end)") end
        parts[#parts + 1] = data
        total = total + size
    end
end

local function read_to_close(sock, deadline, max_body)
    local parts, total = {}, 0
    while true do
        if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the body)") end
        local data, err, partial = sock:receive(PIECE)
        data = data or partial
        if data and data ~= "" then
            total = total + #data
            if total > max_body then return too_large(max_body) end
            parts[#parts + 1] = data
        end
        if err == "closed" then return concat(parts) end
        if err then return io_error("reading the body", err) end
    end
end

local function content_length(value)
    local n
    for v in value:gmatch("[^,]+") do
        local m = v:match("^%s*(%d+)%s*$")
        if not m or (n and tonumber(m) ~= n) then return nil end
        n = tonumber(m)
    end
    return n
end

-- One try on one connection. The third result is true when a pooled
-- connection failed before any answer arrived (the server had closed it).
local function exchange(sock, u, req, deadline, max_body)
    local reused = (sock:getreusedtimes() or 0) > 0
    if u.scheme == "https" and not reused then
        if not arm(sock, deadline) then return fail("TimeoutError", "timed out (TLS handshake)") end
        local ok, session, err = pcall(sock.sslhandshake, sock, sessions[u.pool], u.server_name, u.verify)
        if not ok then
            -- Some lua-resty-core releases raise (an assertion) instead of
            -- returning the error when a handshake that completed at once
            -- then fails its checks; nginx's error log has the detail.
            return fail("NetworkError", "TLS certificate verification failed (handshake rejected; see the nginx "
                .. "error log)")
        end
        if not session then
            if err == "timeout" then return fail("TimeoutError", "timed out (TLS handshake)") end
            local what = tostring(err):find("verify", 1, true) or tostring(err):find("mismatch", 1, true)
            return fail("NetworkError", (what and "TLS certificate verification failed" or "TLS error")
                .. " (" .. tostring(err) .. ")")
        end
        if type(session) ~= "boolean" then sessions[u.pool] = session end
    end
    if not arm(sock, deadline) then return fail("TimeoutError", "timed out (sending the request)") end
    local _, serr = sock:send(u.head .. (req.body or ""))
    if serr then return io_error("sending the request", serr, reused and serr ~= "timeout") end

    local status, headers, version
    for _ = 1, 5 do -- skip interim 1xx answers
        if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the status line)") end
        local head, err, seen = read_until(sock, "\r\n\r\n", _M.MAX_HEADER)
        if not head then
            if err == "too large" then
                return fail("NetworkError", "response headers too large (over " .. _M.MAX_HEADER .. " bytes)")
            end
            return io_error("reading the status line", err, reused and seen == 0 and err ~= "timeout")
        end
        status, headers, version = parse_head(head)
        if not status then return fail("NetworkError", "malformed response (bad status line)") end
        if status >= 200 or status == 101 then break end
    end
    if status < 200 then return fail("NetworkError", "malformed response (too many interim answers)") end

    local keepalive = (version == "1.1" and not has_token(headers.connection, "close"))
        or (version == "1.0" and has_token(headers.connection, "keep-alive"))
    local body, err
    if req.method == "HEAD" or status == 204 or status == 304 then
        body = ""
    elseif has_token(headers["transfer-encoding"], "chunked") then
        body, err = read_chunked(sock, deadline, max_body)
    elseif headers["content-length"] then
        local n = content_length(headers["content-length"])
        if not n then return fail("NetworkError", "malformed response (bad Content-Length)") end
        if n > max_body then return too_large(max_body) end
        if n == 0 then
            body = ""
        else
            if not arm(sock, deadline) then return fail("TimeoutError", "timed out (reading the body)") end
            local rerr
            body, rerr = sock:receive(n)
            if not body then
                if rerr == "closed" then return fail("NetworkError", "response truncated") end
                return io_error("reading the body", rerr)
            end
        end
    else
        keepalive = false
        body, err = read_to_close(sock, deadline, max_body)
    end
    if not body then return nil, err end
    return { status = status, headers = headers, body = body }, keepalive
end

-- opts: timeout, connect_timeout, verify_tls, ca_file, max_body.
function _M.new(opts)
    opts = opts or {}
    return function(req) return _M.send(opts, req) end
end

function _M.send(opts, req)
    if not ngx or type(ngx.socket) ~= "table" then
        return fail("InternalError", "the ngx transport needs nginx with the lua module")
    end
    local scheme, host, port, target, authority = parse_url(req.url)
    if not scheme then return fail("ParamValidationError", host) end
    local head, why = request_head(req, target, authority)
    if not head then return fail("ParamValidationError", why) end
    if opts.ca_file and not warned_ca_file then
        warned_ca_file = true
        ngx.log(ngx.WARN, "kinesis_video_signaling: ca_file is ignored by the ngx transport; ",
            "set lua_ssl_trusted_certificate in nginx.conf")
    end
    local verify = opts.verify_tls ~= false
    local u = {
        scheme = scheme, head = head, verify = verify,
        pool = "kvs:" .. scheme .. "://" .. host .. ":" .. port
            .. (scheme == "https" and (verify and ":verify" or ":noverify") or ""),
    }
    -- The name sent as SNI and checked against the certificate. An address
    -- is sent only when verifying: without a name nginx would check the
    -- chain alone, never whom it belongs to.
    if scheme == "https" and (verify or not is_ip(host)) then u.server_name = host:gsub("^%[(.*)%]$", "%1") end
    local timeout = req.timeout or opts.timeout or 10
    local connect_timeout = min(req.connect_timeout or opts.connect_timeout or 3, timeout)
    local deadline = clock() + timeout
    local max_body = opts.max_body or _M.MAX_BODY

    for _ = 1, STALE_RETRIES do
        local sock = ngx.socket.tcp()
        local left = deadline - clock()
        if left <= 0 then return fail("TimeoutError", "timed out (connecting)") end
        local left_ms = floor(left * 1000) + 1
        sock:settimeouts(floor(min(connect_timeout, left) * 1000) + 1, left_ms, left_ms)
        local ok, err = sock:connect(host, port, { pool = u.pool })
        if not ok then
            if err == "timeout" then return fail("TimeoutError", "timed out (connecting)") end
            if err == "connection refused" then return fail("NetworkError", "connection refused") end
            if tostring(err):find("no resolver defined", 1, true) then
                return fail("NetworkError", "could not resolve host (nginx.conf needs a `resolver` directive)")
            end
            return fail("NetworkError", "could not connect (" .. tostring(err) .. ")")
        end
        local resp, keep_or_err, stale = exchange(sock, u, req, deadline, max_body)
        if resp then
            if keep_or_err then
                local kept = sock:setkeepalive()
                if not kept then sock:close() end
            else
                sock:close()
            end
            return resp
        end
        sock:close()
        if not stale then return nil, keep_or_err end
    end
    return fail("NetworkError", "empty reply from server (pooled connections were closed)")
end

_M.parse_url = parse_url

return _M
