/* libFuzzer target: URL splitting, the Host header and path normalization.
 * The bytes are a URL as a caller (or an endpoint discovered from the
 * service) would give it. */
#include "canonical.h"
#include "fuzz_util.h"

static int within(kvs_str s, const char *base, size_t len)
{
    return s.ptr >= base && s.ptr <= base + len && s.len <= (size_t)(base + len - s.ptr);
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Decodes what kvs_uri_encode wrote and compares it with the original. */
static void check_round_trip(const char *s, size_t len, int keep_slash)
{
    kvs_buf out = {0};
    size_t j = 0;
    FUZZ_CHECK(kvs_uri_encode(&out, s, len, keep_slash) == 0);
    FUZZ_CHECK(fuzz_is_encoded(out.data, out.len, keep_slash ? "/" : ""));
    for (size_t i = 0; i < out.len; i++, j++) {
        char c = out.data[i];
        if (c == '%') {
            c = (char)(hexval(out.data[i + 1]) * 16 + hexval(out.data[i + 2]));
            i += 2;
        }
        FUZZ_CHECK(j < len && c == s[j]);
    }
    FUZZ_CHECK(j == len);
    kvs_buf_free(&out);
}

static void check_canonical_path(const char *path, size_t len)
{
    kvs_buf out = {0};
    FUZZ_CHECK(kvs_canonical_path(&out, path, len) == 0);
    FUZZ_CHECK(out.len >= 1 && out.data[0] == '/');
    FUZZ_CHECK(out.data[out.len] == '\0');
    FUZZ_CHECK(fuzz_is_encoded(out.data, out.len, "/"));
    /* No empty, "." or ".." segment survives; only the end may be a slash. */
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] != '/')
            continue;
        FUZZ_CHECK(i + 1 == out.len || out.data[i + 1] != '/');
        FUZZ_CHECK(!(i + 2 <= out.len && out.data[i + 1] == '.' &&
                     (i + 2 == out.len || out.data[i + 2] == '/')));
        FUZZ_CHECK(!(i + 3 <= out.len && out.data[i + 1] == '.' && out.data[i + 2] == '.' &&
                     (i + 3 == out.len || out.data[i + 3] == '/')));
    }
    /* A trailing slash is kept, and only then is there one (bar the root). */
    if (len > 0 && path[len - 1] == '/')
        FUZZ_CHECK(out.data[out.len - 1] == '/');
    else
        FUZZ_CHECK(out.len == 1 || out.data[out.len - 1] != '/');
    kvs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *url = (const char *)data;
    const char *why = NULL;
    kvs_url u;

    check_canonical_path(url, size);
    if (size <= 512) {
        check_round_trip(url, size, 0);
        check_round_trip(url, size, 1);
    }

    if (kvs_url_split(url, size, &u, &why) != 0) {
        FUZZ_CHECK(why != NULL && *why != '\0');
        return 0;
    }
    FUZZ_CHECK(u.scheme.ptr == url && u.scheme.len > 0);
    for (size_t i = 0; i < u.scheme.len; i++)
        FUZZ_CHECK(u.scheme.ptr[i] >= 'a' && u.scheme.ptr[i] <= 'z');
    FUZZ_CHECK(u.host.len > 0 && within(u.host, url, size));
    FUZZ_CHECK(within(u.port, url, size) || u.port.len == 0);
    FUZZ_CHECK(u.port.len <= 5);
    {
        unsigned long port = 0;
        for (size_t i = 0; i < u.port.len; i++) {
            FUZZ_CHECK(u.port.ptr[i] >= '0' && u.port.ptr[i] <= '9');
            port = port * 10 + (unsigned long)(u.port.ptr[i] - '0');
        }
        FUZZ_CHECK(port <= 65535);
    }
    FUZZ_CHECK(within(u.path, url, size));
    FUZZ_CHECK(u.path.len == 0 || u.path.ptr[0] == '/');
    FUZZ_CHECK(within(u.query, url, size));
    FUZZ_CHECK(u.has_query || u.query.len == 0);
    for (size_t i = 0; i < size; i++)
        FUZZ_CHECK((unsigned char)url[i] >= 0x20 && url[i] != 0x7f);
    for (size_t i = 0; i < u.path.len; i++)
        FUZZ_CHECK(u.path.ptr[i] != '?' && u.path.ptr[i] != '#');
    for (size_t i = 0; i < u.query.len; i++)
        FUZZ_CHECK(u.query.ptr[i] != '#');

    {
        kvs_buf host = {0};
        FUZZ_CHECK(kvs_url_host_header(&u, &host) == 0);
        FUZZ_CHECK(host.len >= u.host.len && memcmp(host.data, u.host.ptr, u.host.len) == 0);
        FUZZ_CHECK(memchr(host.data, '\r', host.len) == NULL && memchr(host.data, '\n', host.len) == NULL);
        kvs_buf_free(&host);
    }
    check_canonical_path(u.path.ptr, u.path.len);
    return 0;
}
