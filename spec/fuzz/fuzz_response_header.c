/* libFuzzer target: what a server sends as a response head. The bytes are
 * header lines, each ending in '\n'. They go through the public line parser
 * and through the transport's own header callback (a static function, hence
 * the #include of http.c), which keeps the final block and enforces the
 * header and Content-Length caps. */
#include "../../src/http.c"

#include "fuzz_util.h"

static void check_line(const char *line, size_t len)
{
    const char *name, *value;
    size_t name_len, value_len;
    if (kvs_http_parse_header_line(line, len, &name, &name_len, &value, &value_len) != 0)
        return;
    FUZZ_CHECK(name == line && name_len > 0 && name_len < len && line[name_len] == ':');
    for (size_t i = 0; i < name_len; i++)
        FUZZ_CHECK(kvs_is_tchar((unsigned char)name[i]));
    FUZZ_CHECK(value >= line + name_len + 1 && value_len <= (size_t)(line + len - value));
    if (value_len > 0)
        FUZZ_CHECK(!is_blank(value[0]) && !is_blank(value[value_len - 1]));
    for (size_t i = 0; i < value_len; i++)
        FUZZ_CHECK(value[i] != '\0' && value[i] != '\r' && value[i] != '\n');
    /* NULL out-pointers are allowed */
    FUZZ_CHECK(kvs_http_parse_header_line(line, len, NULL, NULL, NULL, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvs_http h;
    kvs_http_response resp;
    fuzz_cursor c;
    const char *line;
    size_t len, fed = 0;
    int stopped = 0;

    /* The whole input as one line (no CR/LF stripping). */
    check_line((const char *)data, size);
    {
        long st = parse_status((const char *)data, size);
        long long cl = parse_length((const char *)data, size);
        FUZZ_CHECK(st >= 0 && st <= 999);
        FUZZ_CHECK(cl >= -1);
    }

    /* The lines, one callback each, as libcurl would deliver them. The first
     * byte picks the body cap and whether the request was a HEAD. */
    memset(&h, 0, sizeof h);
    memset(&resp, 0, sizeof resp);
    h.resp = &resp;
    h.max_body = size ? (size_t)(data[0] & 0x7f) * 37 : 0;
    h.no_body = size && (data[0] & 0x80);
    c.p = size > 1 ? data + 1 : NULL;
    c.left = size > 1 ? size - 1 : 0;
    while (!stopped && fuzz_next(&c, '\n', &line, &len)) {
        /* libcurl hands over the line with its terminator; copy it so ASan
         * sees the exact extent */
        char *copy = fuzz_strndup(line, len);
        size_t n = len + 1;
        copy[len] = '\n'; /* over the copy's NUL: the callback gets no terminator */
        fed += n;
        check_line(line, len);
        if (on_header(copy, 1, n, &h) != n) {
            stopped = 1;
            FUZZ_CHECK(h.stop == STOP_TOO_LARGE || h.stop == STOP_HEADERS_TOO_LARGE);
            if (h.stop == STOP_HEADERS_TOO_LARGE)
                FUZZ_CHECK(fed > MAX_HEADER_BYTES);
        }
        free(copy);
    }
    /* What was kept is a CRLF-separated list of complete lines. */
    FUZZ_CHECK(resp.headers.len <= 2 * MAX_HEADER_BYTES);
    if (resp.headers.len) {
        FUZZ_CHECK(resp.headers.len >= 2 && memcmp(resp.headers.data + resp.headers.len - 2, "\r\n", 2) == 0);
        FUZZ_CHECK(resp.headers.data[resp.headers.len] == '\0');
    }
    kvs_http_response_free(&resp);
    return 0;
}
