/* kinesis_video_signaling.core: the one file that knows both Lua and C. It
 * moves values between Lua tables and the signer and HTTP layers, and
 * reports bad input as (nil, message) rather than raising. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ascii.h"
#include "compat.h"
#include "http.h"
#include "sigv4.h"

#define SIGNER_MT "kinesis_video_signaling.signer"
#define HTTP_MT "kinesis_video_signaling.http"
#define MAX_FIELD_ERR 256

/* Per-module state, passed as an upvalue: the signer with its key cache and
 * buffers reused by every call. */
typedef struct {
    kvs_signer *signer;
    kvs_sign_result result;
    kvs_buf headers; /* kvs_header array built from the caller's table */
} sign_state;

typedef struct {
    kvs_http *http;
    kvs_http_response resp;
    kvs_buf header_list; /* kvs_http_header array */
} http_state;

static int fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* Reads t[key] as a string; 1 when present, 0 when nil, -1 when ill-typed.
 * The string stays valid after the pop: the table still holds it. */
static int opt_string(lua_State *L, int t, const char *key, const char **s, size_t *len)
{
    int type;
    lua_getfield(L, t, key);
    type = lua_type(L, -1);
    if (type == LUA_TSTRING)
        *s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);
    return type == LUA_TSTRING ? 1 : type == LUA_TNIL ? 0 : -1;
}

static int no_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL;
}

/* A scope part (region, service) lands in a path-like string: keep it plain. */
static int scope_part_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '/')
            return 0;
    }
    return 1;
}

static int token_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return 0;
    }
    return len > 0;
}

/* Appends one header per value: a string, or a list of strings sent in order. */
static const char *collect_header(lua_State *L, sign_state *st, const char *name, size_t name_len)
{
    int vi = lua_gettop(L);
    if (lua_type(L, vi) == LUA_TSTRING) {
        kvs_header h = {name, name_len, NULL, 0};
        h.value = lua_tolstring(L, vi, &h.value_len);
        return kvs_buf_append(&st->headers, &h, sizeof h) == 0 ? NULL : "out of memory";
    }
    if (lua_type(L, vi) == LUA_TTABLE && kvs_rawlen(L, vi) > 0) {
        size_t n = kvs_rawlen(L, vi);
        for (size_t i = 1; i <= n; i++) {
            kvs_header h = {name, name_len, NULL, 0};
            lua_rawgeti(L, vi, (int)i);
            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_pop(L, 1);
                return "must be a string or a list of strings";
            }
            h.value = lua_tolstring(L, -1, &h.value_len);
            lua_pop(L, 1); /* anchored by the list */
            if (kvs_buf_append(&st->headers, &h, sizeof h) != 0)
                return "out of memory";
        }
        return NULL;
    }
    return "must be a string or a list of strings";
}

static const char *read_headers(lua_State *L, int t, sign_state *st, char *err, size_t err_len)
{
    int hi;
    kvs_buf_clear(&st->headers);
    lua_getfield(L, t, "headers");
    hi = lua_gettop(L);
    if (lua_isnil(L, hi)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, hi)) {
        lua_pop(L, 1);
        return "headers: must be a table of name = value";
    }
    lua_pushnil(L);
    while (lua_next(L, hi) != 0) {
        size_t name_len, before = st->headers.len / sizeof(kvs_header);
        const char *name, *why;
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 3);
            return "headers: names must be strings";
        }
        name = lua_tolstring(L, -2, &name_len);
        why = collect_header(L, st, name, name_len);
        for (size_t i = 0; !why && i < before; i++) {
            const kvs_header *h = (const kvs_header *)(void *)st->headers.data + i;
            if (kvs_names_equal_ci(h->name, h->name_len, name, name_len))
                why = "is given twice with different letter case (use one name with a list of values)";
        }
        if (why) {
            snprintf(err, err_len, "headers: '%.*s' %s", (int)(name_len > 64 ? 64 : name_len), name, why);
            kvs_one_line(err); /* the caller's name may hold CR, LF or other control bytes */
            lua_pop(L, 3);
            return err;
        }
        lua_pop(L, 1);
    }
    /* the headers table stays on the stack, anchoring every string */
    return NULL;
}

static const char *read_credentials(lua_State *L, int t, kvs_sign_params *p)
{
    int ci, rc;
    size_t len;
    lua_getfield(L, t, "credentials");
    ci = lua_gettop(L);
    if (!lua_istable(L, ci))
        return "credentials: must be a table with access_key_id and secret_access_key";
    if (opt_string(L, ci, "access_key_id", &p->access_key_id, &len) != 1 || !token_ok(p->access_key_id, len))
        return "credentials.access_key_id: must be a non-empty string of visible ASCII characters";
    if (opt_string(L, ci, "secret_access_key", &p->secret_access_key, &p->secret_len) != 1 ||
        p->secret_len == 0 || !no_nul(p->secret_access_key, p->secret_len))
        return "credentials.secret_access_key: must be a non-empty string";
    rc = opt_string(L, ci, "session_token", &p->session_token, &len);
    if (rc < 0 || (rc == 1 && !token_ok(p->session_token, len)))
        return "credentials.session_token: must be a string of visible ASCII characters";
    if (rc == 0)
        p->session_token = NULL;
    return NULL;
}

static const char *read_sign_params(lua_State *L, sign_state *st, kvs_sign_params *p, int presign,
                                    char *err, size_t err_len)
{
    size_t len;
    int rc;
    const char *why;
    memset(p, 0, sizeof *p);
    if (!lua_istable(L, 1))
        return "params: must be a table";
    if (opt_string(L, 1, "method", &p->method, &len) != 1 || !kvs_header_name_ok(p->method, len))
        return "method: must be an HTTP method such as \"POST\"";
    if (opt_string(L, 1, "url", &p->url, &p->url_len) != 1)
        return "url: must be a string such as \"https://host/path\"";
    if (opt_string(L, 1, "region", &p->region, &len) != 1 || !scope_part_ok(p->region, len))
        return "region: must be a non-empty string without spaces or '/', such as \"us-west-2\"";
    if (opt_string(L, 1, "service", &p->service, &len) != 1 || !scope_part_ok(p->service, len))
        return "service: must be a non-empty string without spaces or '/', such as \"kinesisvideo\"";
    rc = opt_string(L, 1, "body", &p->body, &p->body_len);
    if (rc < 0)
        return "body: must be a string";
    lua_getfield(L, 1, "time");
    if (lua_isnil(L, -1)) {
        p->time = (long long)time(NULL);
    } else if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) < 253402300800.0) {
        p->time = (long long)lua_tonumber(L, -1);
    } else {
        lua_pop(L, 1);
        return "time: must be Unix seconds (a number from 0 to year 9999)";
    }
    lua_pop(L, 1);
    p->presign = presign;
    if (presign) {
        lua_getfield(L, 1, "expires");
        if (lua_isnil(L, -1))
            p->expires = 300;
        else if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 1 && lua_tonumber(L, -1) <= 604800)
            p->expires = (long)lua_tonumber(L, -1);
        else
            p->expires = -1;
        lua_pop(L, 1);
        if (p->expires < 0)
            return "expires: must be a number of seconds from 1 to 604800";
    }
    if ((why = read_credentials(L, 1, p)) != NULL)
        return why;
    if ((why = read_headers(L, 1, st, err, err_len)) != NULL)
        return why;
    p->headers = (const kvs_header *)(void *)st->headers.data;
    p->n_headers = st->headers.len / sizeof(kvs_header);
    return NULL;
}

static int owned_by_signer(const char *name, size_t len)
{
    return kvs_names_equal_ci(name, len, "authorization", 13) || kvs_names_equal_ci(name, len, "x-amz-date", 10) ||
           kvs_names_equal_ci(name, len, "x-amz-security-token", 20);
}

/* signed.headers: the caller's headers, then those the signer adds; pushes
 * the table and then the authorization value. */
static void push_signed_headers(lua_State *L, const kvs_sign_params *p, const kvs_sign_result *r)
{
    int has_host = 0;
    lua_createtable(L, 0, 8);
    lua_getfield(L, 1, "headers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            size_t len;
            const char *name = lua_tolstring(L, -2, &len);
            if (owned_by_signer(name, len)) {
                lua_pop(L, 1);
                continue;
            }
            has_host = has_host || kvs_names_equal_ci(name, len, "host", 4);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -5);
        }
    }
    lua_pop(L, 1);
    if (!has_host) {
        lua_pushlstring(L, r->host.data, r->host.len);
        lua_setfield(L, -2, "Host");
    }
    lua_pushlstring(L, r->amz_date, 16);
    lua_setfield(L, -2, "X-Amz-Date");
    if (p->session_token) {
        lua_pushstring(L, p->session_token);
        lua_setfield(L, -2, "X-Amz-Security-Token");
    }
    lua_pushlstring(L, r->authorization.data, r->authorization.len);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "Authorization");
    /* leaves the authorization string on top for signed.authorization */
}

static int sign_common(lua_State *L, int presign)
{
    sign_state *st = lua_touserdata(L, lua_upvalueindex(1));
    kvs_sign_params p;
    char err[MAX_FIELD_ERR];
    const char *why;
    int debug;
    lua_settop(L, 1);
    if ((why = read_sign_params(L, st, &p, presign, err, sizeof err)) != NULL)
        return fail(L, why);
    if (kvs_sign(st->signer, &p, &st->result, err, sizeof err) != 0)
        return fail(L, err);
    lua_getfield(L, 1, "debug");
    debug = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (presign) {
        lua_pushlstring(L, st->result.url.data, st->result.url.len);
        if (!debug)
            return 1;
        lua_createtable(L, 0, 4);
        lua_insert(L, -2);
        lua_setfield(L, -2, "url");
    } else {
        lua_createtable(L, 0, debug ? 5 : 3);
        push_signed_headers(L, &p, &st->result);
        lua_setfield(L, -3, "authorization");
        lua_setfield(L, -2, "headers");
    }
    lua_pushlstring(L, st->result.signature, 64);
    lua_setfield(L, -2, "signature");
    if (debug) {
        lua_pushlstring(L, st->result.canonical_request.data, st->result.canonical_request.len);
        lua_setfield(L, -2, "canonical_request");
        lua_pushlstring(L, st->result.string_to_sign.data, st->result.string_to_sign.len);
        lua_setfield(L, -2, "string_to_sign");
    }
    return 1;
}

static int l_sign(lua_State *L)
{
    return sign_common(L, 0);
}

static int l_presign(lua_State *L)
{
    return sign_common(L, 1);
}

static int l_sha256_hex(lua_State *L)
{
    sign_state *st = lua_touserdata(L, lua_upvalueindex(1));
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char digest[32];
    char hex[65];
    if (kvs_sha256(st->signer, s, len, digest) != 0)
        return fail(L, "SHA-256 failed");
    kvs_hex(digest, sizeof digest, hex);
    lua_pushlstring(L, hex, 64);
    return 1;
}

static int signer_gc(lua_State *L)
{
    sign_state *st = luaL_checkudata(L, 1, SIGNER_MT);
    kvs_signer_free(st->signer);
    st->signer = NULL;
    kvs_sign_result_free(&st->result);
    kvs_buf_free(&st->headers);
    return 0;
}

/* ---- HTTP ---- */

static http_state *check_http(lua_State *L)
{
    http_state *h = luaL_checkudata(L, 1, HTTP_MT);
    if (!h->http)
        luaL_argerror(L, 1, "HTTP handle is closed");
    return h;
}

static int l_http_new(lua_State *L)
{
    http_state *h = kvs_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    luaL_getmetatable(L, HTTP_MT);
    lua_setmetatable(L, -2);
    if (kvs_http_global_init() != 0 || (h->http = kvs_http_new()) == NULL)
        return fail(L, "cannot initialise libcurl");
    return 1;
}

static int http_close(lua_State *L)
{
    http_state *h = luaL_checkudata(L, 1, HTTP_MT);
    kvs_http_free(h->http);
    h->http = NULL;
    kvs_http_response_free(&h->resp);
    kvs_buf_free(&h->header_list);
    return 0;
}

static int fail_kind(lua_State *L, const char *kind, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    return 3;
}

/* Request headers come from a name = value table; the strings stay anchored
 * by that table for the whole exchange. */
static const char *read_request_headers(lua_State *L, int t, http_state *h)
{
    int hi;
    kvs_buf_clear(&h->header_list);
    lua_getfield(L, t, "headers");
    hi = lua_gettop(L);
    if (lua_isnil(L, hi))
        return NULL;
    if (!lua_istable(L, hi))
        return "headers: must be a table";
    lua_pushnil(L);
    while (lua_next(L, hi) != 0) {
        size_t nl, vl;
        kvs_http_header hd;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 2);
            return "headers: names and values must be strings";
        }
        hd.name = lua_tolstring(L, -2, &nl);
        hd.value = lua_tolstring(L, -1, &vl);
        lua_pop(L, 1);
        if (!kvs_header_name_ok(hd.name, nl) || !kvs_header_value_ok(hd.value, vl))
            return "headers: invalid name, or a value with CR, LF or NUL";
        if (kvs_buf_append(&h->header_list, &hd, sizeof hd) != 0)
            return "out of memory";
    }
    return NULL;
}

/* Response headers as a table of lower-case name = value; repeats joined with ", ". */
static void push_response_headers(lua_State *L, const kvs_buf *raw)
{
    const char *p = raw->data ? raw->data : "", *end = p + raw->len;
    char lower[64]; /* most names fit; longer ones go through a luaL_Buffer */
    lua_createtable(L, 0, 8);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *name, *value;
        size_t len = (size_t)((eol ? eol : end) - p), name_len, value_len;
        if (len && p[len - 1] == '\r')
            len--;
        if (kvs_http_parse_header_line(p, len, &name, &name_len, &value, &value_len) == 0) {
            if (name_len <= sizeof lower) {
                for (size_t i = 0; i < name_len; i++)
                    lower[i] = (char)kvs_ascii_lower((unsigned char)name[i]);
                lua_pushlstring(L, lower, name_len);
            } else {
                luaL_Buffer b;
                luaL_buffinit(L, &b);
                for (size_t i = 0; i < name_len; i++)
                    luaL_addchar(&b, (char)kvs_ascii_lower((unsigned char)name[i]));
                luaL_pushresult(&b);
            }
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isstring(L, -1)) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, value, value_len);
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, value, value_len);
            }
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
}

/* Reads t[key], else d[key] when t[key] is nil or false (Lua's `or`) and d
 * (a stack index, 0 for none) is given. Leaves the value on the stack. */
static int get_either(lua_State *L, int t, int d, const char *key)
{
    lua_getfield(L, t, key);
    if (d && !lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, d, key);
    }
    return lua_type(L, -1);
}

static double number_in(lua_State *L, int t, int d, const char *key, double dflt)
{
    double v = dflt;
    if (get_either(L, t, d, key) == LUA_TNUMBER)
        v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* handle:request(req [, settings]): a transport passes its fixed settings
 * (ca_file, verify_tls, max_body, and timeouts the request may override)
 * once, instead of copying them into every request. Without `settings`,
 * they come from req. */
static int l_http_request(lua_State *L)
{
    http_state *h = check_http(L);
    kvs_http_request req;
    char err[MAX_FIELD_ERR];
    const char *why;
    size_t len;
    int d = 0, s;
    kvs_http_status status;
    memset(&req, 0, sizeof req);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        d = 3;
    }
    lua_settop(L, 3);
    s = d ? d : 2; /* where the settings are */
    if (opt_string(L, 2, "method", &req.method, &len) != 1 || !kvs_header_name_ok(req.method, len))
        return fail_kind(L, "ParamValidationError", "method: must be an HTTP method");
    if (opt_string(L, 2, "url", &req.url, &len) != 1 || !no_nul(req.url, len))
        return fail_kind(L, "ParamValidationError", "url: must be a string without NUL bytes");
    if (opt_string(L, 2, "body", &req.body, &req.body_len) < 0)
        return fail_kind(L, "ParamValidationError", "body: must be a string");
    if (opt_string(L, s, "ca_file", &req.ca_file, &len) < 0)
        return fail_kind(L, "ParamValidationError", "ca_file: must be a path");
    lua_getfield(L, s, "verify_tls");
    req.verify_tls = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    req.timeout_ms = (long)(number_in(L, 2, d, "timeout", 10) * 1000);
    req.connect_timeout_ms = (long)(number_in(L, 2, d, "connect_timeout", 3) * 1000);
    req.max_body = (size_t)number_in(L, s, 0, "max_body", 1024 * 1024);
    if ((why = read_request_headers(L, 2, h)) != NULL)
        return fail_kind(L, "ParamValidationError", why);
    req.headers = (const kvs_http_header *)(void *)h->header_list.data;
    req.n_headers = h->header_list.len / sizeof(kvs_http_header);

    status = kvs_http_perform(h->http, &req, &h->resp, err, sizeof err);
    switch (status) {
    case KVS_HTTP_OK:
        break;
    case KVS_HTTP_TIMEOUT:
        return fail_kind(L, "TimeoutError", err);
    case KVS_HTTP_NETWORK:
        return fail_kind(L, "NetworkError", err);
    case KVS_HTTP_TOO_LARGE:
        return fail_kind(L, "InvalidResponseError", err);
    default:
        return fail_kind(L, "InternalError", err);
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)h->resp.status);
    lua_setfield(L, -2, "status");
    push_response_headers(L, &h->resp.headers);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, h->resp.body.data ? h->resp.body.data : "", h->resp.body.len);
    lua_setfield(L, -2, "body");
    return 1;
}

/* ---- small system helpers the Lua layer needs ---- */

static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
    return 1;
}

static int l_monotonic(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
    return 1;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    struct timespec ts;
    if (s <= 0)
        return 0;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

/* For specs: Lua has no setenv, and the AWS variables are read from the real
 * environment. */
static int l_setenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int rc = lua_isnoneornil(L, 2) ? unsetenv(name) : setenv(name, luaL_checkstring(L, 2), 1);
    lua_pushboolean(L, rc == 0);
    return 1;
}

static const luaL_Reg signer_funcs[] = {
    {"sign", l_sign},
    {"presign", l_presign},
    {"sha256_hex", l_sha256_hex},
    {NULL, NULL},
};

static const luaL_Reg plain_funcs[] = {
    {"http", l_http_new},
    {"now", l_now},
    {"monotonic", l_monotonic},
    {"sleep", l_sleep},
    {"setenv", l_setenv},
    {NULL, NULL},
};

static const luaL_Reg http_methods[] = {
    {"request", l_http_request},
    {"close", http_close},
    {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_kinesis_video_signaling_core(lua_State *L)
{
    sign_state *st;
    if (luaL_newmetatable(L, HTTP_MT)) {
        lua_createtable(L, 0, 2);
        kvs_setfuncs(L, http_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, http_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, http_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SIGNER_MT)) {
        lua_pushcfunction(L, signer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);

    lua_createtable(L, 0, 10);
    kvs_setfuncs(L, plain_funcs, 0);
    st = kvs_newuserdata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    luaL_getmetatable(L, SIGNER_MT);
    lua_setmetatable(L, -2);
    st->signer = kvs_signer_new();
    if (!st->signer)
        return luaL_error(L, "kinesis_video_signaling.core: cannot initialise OpenSSL SHA-256");
    kvs_setfuncs(L, signer_funcs, 1);
    return 1;
}
