-- Request handlers for the nginx started by spec/05-openresty_spec.lua. They
-- run inside nginx (LuaJIT, lua-nginx-module) and call the module the way an
-- application would, then answer JSON describing what happened.
--
-- Query arguments of /call (and of the log-phase and timer variants):
--   op          "ice" (GetIceServerConfig, default) or "offer"
--   channel     the channel ARN
--   transport   "ngx", "curl", "custom" (a function that records the req it
--               gets, then sends with the ngx transport) or absent (automatic)
--   client      "fresh" (a new client per request, default) or a tag naming
--               a client kept in this worker and reused by later requests
--   discover    "1": no signaling endpoint, so it is discovered through the
--               control endpoint (the replay server)
--   creds       "slow": credentials from a function that takes 0.2 s and
--               counts its calls (per client tag)
--   target      "plain" (default), "tls" (a certificate nginx trusts, naming
--               127.0.0.1), "tls_other" (trusted, but naming another host),
--               "refused" (a port nobody listens on) or "name" (a host name)
--   verify      "0": verify_tls = false
--   timeout, max_attempts
-- The replay server's URL comes from the environment (KVS_SPEC_REPLAY_URL,
-- passed through with nginx's `env` directive), the credentials too.
local kvs = require "kinesis_video_signaling"
local transport = require "kinesis_video_signaling.transport"
local cjson = require "cjson.safe"

local _M = {}

local clients = {}      -- tag -> client, per worker
local creds_calls = {}  -- tag -> calls of the slow credentials function
local custom_seen = {}  -- requests the custom transport was handed

local function slow_credentials(tag)
    return function()
        creds_calls[tag] = (creds_calls[tag] or 0) + 1
        ngx.sleep(0.2)
        return {
            access_key_id = "AKIDSLOWEXAMPLE", secret_access_key = "slow/secret/EXAMPLEKEY",
            expiration = ngx.time() + 3600,
        }
    end
end

-- target: which server the calls go to.
local TARGETS = { plain = "KVS_SPEC_REPLAY_URL", tls = "KVS_SPEC_TLS_URL", tls_other = "KVS_SPEC_TLS_OTHER_URL" }

local function options(args)
    local url = os.getenv(TARGETS[args.target or "plain"] or "")
    if args.target == "refused" then url = "http://127.0.0.1:1" end
    -- A name, with no `resolver` in the spec's nginx.conf: nothing is looked up.
    if args.target == "name" then url = "http://signaling.example.invalid" end
    local opts = {
        region = "us-west-2", retry_base_delay = 0.01,
        timeout = tonumber(args.timeout) or 3, connect_timeout = 1,
        max_attempts = tonumber(args.max_attempts) or 1,
    }
    if args.discover == "1" then opts.control_endpoint = url else opts.endpoint = url end
    if args.transport == "ngx" or args.transport == "curl" then
        opts.transport = args.transport
    elseif args.transport == "custom" then
        local send = require("kinesis_video_signaling.transport_ngx").new(opts)
        opts.transport = function(req)
            custom_seen[#custom_seen + 1] = {
                method = req.method, url = req.url, body = req.body, timeout = req.timeout,
                connect_timeout = req.connect_timeout, header_names = (function()
                    local names = {}
                    for name in pairs(req.headers) do names[#names + 1] = name:lower() end
                    table.sort(names)
                    return names
                end)(),
            }
            return send(req)
        end
    end
    if args.verify == "0" then opts.verify_tls = false end
    if args.creds == "slow" then opts.credentials = slow_credentials(args.client or "fresh") end
    return opts
end

local function client_for(args)
    local tag = args.client or "fresh"
    if tag ~= "fresh" and clients[tag] then return clients[tag] end
    local c, err = kvs.new(options(args))
    if not c then return nil, err end
    if tag ~= "fresh" then clients[tag] = c end
    return c
end

local function err_table(err)
    if not err then return nil end
    return {
        code = err.code, message = err.message, status = err.status, retryable = err.retryable,
        attempts = err.attempts, text = tostring(err),
    }
end

-- Runs the operation the arguments name; returns a JSON-ready table.
local function run(args)
    local c, err = client_for(args)
    local result = { phase = ngx.get_phase(), pid = ngx.worker.pid() }
    if not c then
        result.err = err_table(err)
        return result
    end
    result.transport = transport.current(c) -- the client holds its options
    local out
    if args.op == "offer" then
        out, err = c:send_alexa_offer_to_master{ ChannelARN = args.channel, SenderClientId = "viewer-1",
                                                 MessagePayload = "eyJ0eXBlIjoib2ZmZXIifQ==" }
    else
        out, err = c:get_ice_server_config(args.channel)
    end
    result.ok, result.err = out, err_table(err)
    result.creds_calls = creds_calls[args.client or "fresh"]
    return result
end

local function reply(t)
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(t))
end

function _M.call()
    reply(run(ngx.req.get_uri_args()))
end

-- In log_by_lua: no cosockets there; the result goes to a shared dict.
function _M.in_log()
    local args = ngx.req.get_uri_args()
    ngx.shared.kvs_spec:set(args.key, cjson.encode(run(args)))
end

-- Starts the call in a timer (a cosocket-capable context) and returns.
function _M.in_timer()
    local args = ngx.req.get_uri_args()
    local ok, err = ngx.timer.at(0, function(premature)
        if premature then return end
        ngx.shared.kvs_spec:set(args.key, cjson.encode(run(args)))
    end)
    reply{ started = ok, err = err }
end

function _M.result()
    local v = ngx.shared.kvs_spec:get(ngx.var.arg_key)
    ngx.header["Content-Type"] = "application/json"
    ngx.say(v or "null")
end

-- A lock whose holder is killed (ngx.thread.kill) before it releases: the
-- next caller gets it after one timeout instead of waiting forever.
function _M.lock_recovery()
    local lock = require "kinesis_video_signaling.lock"
    local l = lock.new{ timeout = 0.3 }
    local holder = ngx.thread.spawn(function()
        return l:run(function() ngx.sleep(10) end)
    end)
    ngx.sleep(0.01)
    local killed = ngx.thread.kill(holder)
    local t0 = ngx.now()
    local first, first_err = l:run(function() return "after recovery" end)
    ngx.update_time()
    local waited = ngx.now() - t0
    local second = l:run(function() return "no wait" end)
    reply{ killed = killed and true or false, first = first, first_err = first_err and tostring(first_err),
           second = second, waited = waited }
end

function _M.custom_seen()
    reply(custom_seen)
end

return _M
