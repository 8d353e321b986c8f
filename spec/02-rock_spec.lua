-- The rock builds and installs with luarocks, and the installed copy loads
-- and signs in a fresh interpreter that sees only the rock's tree.
local helpers = require "spec.support.helpers"

local LUA_VERSION = _VERSION:match("%d+%.%d+")
local IS_JIT = type(jit) == "table"

local function run(cmd)
    local p = assert(io.popen(cmd .. " 2>&1"))
    local out = p:read("a")
    local ok, _, code = p:close()
    return (ok == true or code == 0), out
end

describe("luarocks rock", function()
    local tree

    setup(function()
        tree = os.tmpname()
        os.remove(tree)
    end)
    teardown(function() os.execute("rm -rf " .. tree) end)

    it("builds, installs and signs from the installed tree", function()
        local extra = IS_JIT and " LUA_INCDIR=/usr/include/luajit-2.1" or ""
        -- Built from a copy, so objects never land in the work tree.
        local ok, out = run(("mkdir -p %s/src && cp -r src rockspec %s/src/ && cd %s/src && "
            .. "luarocks --lua-version=%s make --tree=%s --deps-mode=none "
            .. "rockspec/kinesis-video-signaling-scm-1.rockspec%s"):format(tree, tree, tree, LUA_VERSION, tree, extra))
        assert(ok, out)
        local lua = IS_JIT and "luajit" or ("lua" .. LUA_VERSION)
        local script = tree .. "/check.lua"
        helpers.write_file(script, [[
local kvs = require "kinesis_video_signaling"
assert(package.searchpath("kinesis_video_signaling.core", package.cpath):find("]] .. tree .. [[", 1, true))
local signed = assert(kvs.sign{
    method = "POST", url = "https://r-1234abcd.kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config",
    headers = { ["Content-Type"] = "application/json" },
    body = '{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123",'
        .. '"ClientId":"viewer-1","Service":"TURN"}',
    region = "us-west-2", service = "kinesisvideo", time = 1440938160,
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
})
print(signed.signature)
]])
        local paths = ("LUA_PATH='%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua;/usr/share/lua/%s/?.lua' "
            .. "LUA_CPATH='%s/lib/lua/%s/?.so;/usr/lib/x86_64-linux-gnu/lua/%s/?.so'"):format(
            tree, LUA_VERSION, tree, LUA_VERSION, LUA_VERSION, tree, LUA_VERSION, LUA_VERSION)
        local signed_ok, sig = run(paths .. " " .. lua .. " " .. script)
        assert(signed_ok, sig)
        assert.equal("ea7967b70267017f8dbfc26368493ea5c48baf804c811eacdb7bc7d7ed667af0", sig:match("%x+"))
    end)
end)
