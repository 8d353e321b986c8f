-- Mutual exclusion for work that must not run twice at once: a credentials
-- refresh, an endpoint discovery. Inside nginx, many requests of one worker
-- run interleaved (each yields while it waits on a cosocket), so the first
-- one does the work and the others wait on an ngx.semaphore, then see its
-- result. The exclusion is per worker process; caches are per worker too.
--
-- Elsewhere (plain Lua, or an nginx phase that cannot yield: init,
-- init_worker, set, header_filter, body_filter, log) nothing can interleave
-- with the caller, so run(fn) just calls fn.
--
--   local l = lock.new{ timeout = 30 }
--   local a, b = l:run(fn, ...)           -- fn's results
--   local keyed = lock.keyed{ timeout = 30 }
--   local a, b = keyed:run(key, fn, ...)  -- one fn in flight per key
--
-- A waiter that gives up after `timeout` seconds gets nil, TimeoutError.
-- An error raised by fn is raised again after the lock is released.
local errors = require "kinesis_video_signaling.errors"

local type, pcall, error, select, setmetatable = type, pcall, error, select, setmetatable
local unpack = table.unpack or unpack

local _M = {}

_M.DEFAULT_TIMEOUT = 60

-- Phases where ngx.semaphore:wait (and cosockets, ngx.sleep) may yield.
_M.YIELDABLE_PHASES = {
    rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
    ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

-- The nginx phase we run in, or nil outside nginx.
function _M.phase()
    local ngx = rawget(_G, "ngx")
    if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return nil end
    local ok, phase = pcall(ngx.get_phase)
    return ok and phase or nil
end

-- True when the caller may yield to nginx (wait on a semaphore or cosocket).
function _M.can_yield()
    local phase = _M.phase()
    return phase ~= nil and _M.YIELDABLE_PHASES[phase] == true
end

local function pack(...)
    return { n = select("#", ...), ... }
end

local Lock = {}
Lock.__index = Lock

-- opts.timeout: seconds a waiter waits before giving up.
function _M.new(opts)
    local timeout = opts and opts.timeout or _M.DEFAULT_TIMEOUT
    return setmetatable({ timeout = timeout, sem = nil }, Lock)
end

-- Created on first use inside a yieldable phase, so it belongs to the worker
-- process (never to the master that ran init_by_lua).
local function semaphore(self)
    if not self.sem then
        local ok, mod = pcall(require, "ngx.semaphore")
        if not ok then return nil end
        local sem = mod.new(1)
        if not sem then return nil end
        self.sem = sem
    end
    return self.sem
end

local function now()
    return rawget(_G, "ngx").now()
end

function Lock:run(fn, ...)
    if not _M.can_yield() then return fn(...) end
    local sem = semaphore(self)
    if not sem then return fn(...) end
    local ok, why = sem:wait(self.timeout)
    if not ok and why == "timeout" then
        if self.sem == sem and self.since and now() - self.since >= self.timeout then
            -- The holder has had it longer than the work can take: its
            -- request was killed before it could release. Start afresh; the
            -- lost holder, should it ever finish, releases the old one.
            self.sem, self.since = nil, nil
        end
        if self.sem ~= sem then -- replaced, by this caller or another: wait once more
            sem = semaphore(self)
            ok, why = sem:wait(self.timeout)
        end
    end
    if not ok then
        if why == "timeout" then
            return nil, errors.new("TimeoutError", "waited " .. self.timeout ..
                " s for another request doing the same work (credentials refresh or endpoint discovery)")
        end
        return nil, errors.new("InternalError", "lock: " .. tostring(why))
    end
    self.since = now()
    local results = pack(pcall(fn, ...))
    if self.sem == sem then self.since = nil end
    sem:post(1)
    if not results[1] then error(results[2], 0) end
    return unpack(results, 2, results.n)
end

local Keyed = {}
Keyed.__index = Keyed

-- One Lock per key, kept only while someone holds or waits for it.
function _M.keyed(opts)
    return setmetatable({ opts = opts, entries = {} }, Keyed)
end

function Keyed:run(key, fn, ...)
    if not _M.can_yield() then return fn(...) end
    local entry = self.entries[key]
    if not entry then
        entry = { lock = _M.new(self.opts), users = 0 }
        self.entries[key] = entry
    end
    entry.users = entry.users + 1
    local results = pack(pcall(entry.lock.run, entry.lock, fn, ...))
    entry.users = entry.users - 1
    if entry.users == 0 and self.entries[key] == entry then self.entries[key] = nil end
    if not results[1] then error(results[2], 0) end
    return unpack(results, 2, results.n)
end

return _M
