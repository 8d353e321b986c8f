/* The few Lua API differences between 5.1 (LuaJIT) and 5.4 this module
 * meets. Shims carry a kvs_ prefix, so they never clash with LuaJIT's own
 * backports of 5.2 functions. */
#ifndef KVS_COMPAT_H
#define KVS_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM >= 504
#define kvs_newuserdata(L, size) lua_newuserdatauv((L), (size), 0)
#else
#define kvs_newuserdata(L, size) lua_newuserdata((L), (size))
#endif

#if LUA_VERSION_NUM >= 502
#define kvs_rawlen(L, i) lua_rawlen((L), (i))
#else
#define kvs_rawlen(L, i) lua_objlen((L), (i))
#endif

/* luaL_setfuncs with upvalues, available on every version. */
static inline void kvs_setfuncs(lua_State *L, const luaL_Reg *reg, int nup)
{
    for (; reg->name; reg++) {
        for (int i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, reg->func, nup);
        lua_setfield(L, -(nup + 2), reg->name);
    }
    lua_pop(L, nup);
}

#endif
