#include "canonical.h"
#include "ascii.h"

#include <stdlib.h>
#include <string.h>

static const char HEX_UPPER[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kvs_url_split(const char *url, size_t len, kvs_url *out, const char **why)
{
    size_t i = 0, start;
    memset(out, 0, sizeof *out);
    for (i = 0; i < len; i++) {
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f) {
            *why = "contains a control character";
            return -1;
        }
    }
    for (i = 0; i < len && ((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z')); i++)
        ;
    if (i == 0 || len - i < 3 || memcmp(url + i, "://", 3) != 0) {
        *why = "must start with a scheme such as https://";
        return -1;
    }
    out->scheme.ptr = url;
    out->scheme.len = i;
    for (size_t k = 0; k < i; k++) {
        if (url[k] < 'a') {
            *why = "scheme must be lower-case";
            return -1;
        }
    }
    i += 3;
    start = i;
    if (i < len && url[i] == '[') { /* IPv6 literal */
        while (i < len && url[i] != ']')
            i++;
        if (i == len) {
            *why = "has an unterminated IPv6 address";
            return -1;
        }
        i++;
    } else {
        while (i < len && url[i] != ':' && url[i] != '/' && url[i] != '?' && url[i] != '#') {
            if (url[i] == '@' || url[i] == ' ') {
                *why = url[i] == '@' ? "must not carry user info" : "has a space in the host";
                return -1;
            }
            i++;
        }
    }
    out->host.ptr = url + start;
    out->host.len = i - start;
    if (out->host.len == 0) {
        *why = "has no host";
        return -1;
    }
    if (i < len && url[i] == ':') {
        start = ++i;
        while (i < len && url[i] >= '0' && url[i] <= '9')
            i++;
        out->port.ptr = url + start;
        out->port.len = i - start;
        if (out->port.len == 0 || out->port.len > 5 || (i < len && url[i] != '/' && url[i] != '?' && url[i] != '#')) {
            *why = "has an invalid port";
            return -1;
        }
        /* Five digits can still be out of range ("99999"): such a URL would
         * be signed, then refused by the transport; refuse it here. */
        {
            unsigned long port = 0;
            for (size_t k = 0; k < out->port.len; k++)
                port = port * 10 + (unsigned long)(out->port.ptr[k] - '0');
            if (port > 65535) {
                *why = "has an invalid port";
                return -1;
            }
        }
    }
    if (i < len && url[i] != '/' && url[i] != '?' && url[i] != '#') {
        *why = "has an invalid host";
        return -1;
    }
    start = i;
    while (i < len && url[i] != '?' && url[i] != '#')
        i++;
    out->path.ptr = url + start;
    out->path.len = i - start;
    if (i < len && url[i] == '?') {
        start = ++i;
        while (i < len && url[i] != '#')
            i++;
        out->query.ptr = url + start;
        out->query.len = i - start;
        out->has_query = 1;
    } else {
        out->query.ptr = url + i;
    }
    return 0;
}

static int str_is(kvs_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

int kvs_url_host_header(const kvs_url *u, kvs_buf *out)
{
    int default_port = 0;
    if (kvs_buf_append(out, u->host.ptr, u->host.len) != 0)
        return -1;
    if (u->port.len == 0)
        return 0;
    if (str_is(u->port, "443"))
        default_port = str_is(u->scheme, "https") || str_is(u->scheme, "wss");
    else if (str_is(u->port, "80"))
        default_port = str_is(u->scheme, "http") || str_is(u->scheme, "ws");
    if (default_port)
        return 0;
    if (kvs_buf_putc(out, ':') != 0)
        return -1;
    return kvs_buf_append(out, u->port.ptr, u->port.len);
}

/* Writes c as itself when unreserved, else as %XX; returns the next slot. */
static char *put_encoded(char *w, unsigned char c)
{
    if (is_unreserved(c)) {
        *w++ = (char)c;
    } else {
        *w++ = '%';
        *w++ = HEX_UPPER[c >> 4];
        *w++ = HEX_UPPER[c & 15];
    }
    return w;
}

int kvs_uri_encode(kvs_buf *out, const char *s, size_t len, int keep_slash)
{
    char *w;
    if (len > ((size_t)-1) / 3 || kvs_buf_reserve(out, len * 3) != 0)
        return -1;
    w = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep_slash && c == '/')
            *w++ = '/';
        else
            w = put_encoded(w, c);
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* Segment boundaries are tracked as offsets into `out`, which only grows, so
 * ".." can drop the last kept segment by truncating back to its start. */
int kvs_canonical_path(kvs_buf *out, const char *path, size_t len)
{
    size_t base = out->len, i = 0;
    int trailing_slash = len > 0 && path[len - 1] == '/';
    while (i < len) {
        size_t start, seg_len;
        while (i < len && path[i] == '/')
            i++;
        start = i;
        while (i < len && path[i] != '/')
            i++;
        seg_len = i - start;
        if (seg_len == 0 || (seg_len == 1 && path[start] == '.'))
            continue;
        if (seg_len == 2 && path[start] == '.' && path[start + 1] == '.') {
            while (out->len > base && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > base)
                out->len--; /* the slash before the dropped segment */
            if (out->data)
                out->data[out->len] = '\0';
            continue;
        }
        if (kvs_buf_putc(out, '/') != 0 || kvs_uri_encode(out, path + start, seg_len, 0) != 0)
            return -1;
    }
    if (out->len == base || trailing_slash)
        return kvs_buf_putc(out, '/');
    return 0;
}

/* Decodes each valid %XX and encodes the result in one pass, so "%E1%88%B4"
 * and raw UTF-8 give the same canonical text. */
static int recode(kvs_buf *text, const char *s, size_t len, size_t *off, size_t *out_len)
{
    char *w;
    if (len > ((size_t)-1) / 3 || kvs_buf_reserve(text, len * 3) != 0)
        return -1;
    *off = text->len;
    w = text->data + text->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < len && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        w = put_encoded(w, c);
    }
    text->len = (size_t)(w - text->data);
    text->data[text->len] = '\0';
    *out_len = text->len - *off;
    return 0;
}

int kvs_query_parse(const char *query, size_t len, kvs_buf *text, kvs_buf *params)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i, eq;
        kvs_query_param p;
        while (i < len && query[i] != '&')
            i++;
        if (i > start) {
            for (eq = start; eq < i && query[eq] != '='; eq++)
                ;
            if (recode(text, query + start, eq - start, &p.key_off, &p.key_len) != 0)
                return -1;
            if (eq < i) {
                if (recode(text, query + eq + 1, i - eq - 1, &p.val_off, &p.val_len) != 0)
                    return -1;
            } else {
                p.val_off = text->len;
                p.val_len = 0;
            }
            p.key = p.val = NULL;
            if (kvs_buf_append(params, &p, sizeof p) != 0)
                return -1;
        }
        i++; /* past '&' */
    }
    return 0;
}

static int compare_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

static int compare_params(const void *x, const void *y)
{
    const kvs_query_param *a = x, *b = y;
    int c = compare_bytes(a->key, a->key_len, b->key, b->key_len);
    return c ? c : compare_bytes(a->val, a->val_len, b->val, b->val_len);
}

int kvs_query_canonical(kvs_buf *out, const kvs_buf *text, kvs_buf *params)
{
    kvs_query_param *p = (kvs_query_param *)(void *)params->data;
    size_t n = params->len / sizeof *p;
    for (size_t i = 0; i < n; i++) {
        p[i].key = text->data + p[i].key_off;
        p[i].val = text->data + p[i].val_off;
    }
    if (n > 1)
        qsort(p, n, sizeof *p, compare_params);
    for (size_t i = 0; i < n; i++) {
        if ((i && kvs_buf_putc(out, '&') != 0) || kvs_buf_append(out, p[i].key, p[i].key_len) != 0 ||
            kvs_buf_putc(out, '=') != 0 || kvs_buf_append(out, p[i].val, p[i].val_len) != 0)
            return -1;
    }
    return 0;
}

int kvs_header_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!kvs_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

int kvs_header_value_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return 0;
    return 1;
}

static int compare_names(const kvs_header *a, const kvs_header *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = kvs_ascii_lower((unsigned char)a->name[i]), y = kvs_ascii_lower((unsigned char)b->name[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* Insertion sort: stable, allocation-free, and requests carry few headers. */
static void sort_headers(kvs_header *h, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        kvs_header key = h[i];
        size_t j = i;
        while (j > 0 && compare_names(&h[j - 1], &key) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = key;
    }
}

static int append_lower(kvs_buf *out, const char *s, size_t len)
{
    char *w;
    if (kvs_buf_reserve(out, len) != 0)
        return -1;
    w = out->data + out->len;
    for (size_t i = 0; i < len; i++)
        w[i] = (char)kvs_ascii_lower((unsigned char)s[i]);
    out->len += len;
    out->data[out->len] = '\0';
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims both ends and collapses each inner run of blanks to one space. */
static int append_trimmed(kvs_buf *out, const char *s, size_t len)
{
    size_t i = 0, end = len;
    char *w;
    while (i < end && is_blank(s[i]))
        i++;
    while (end > i && is_blank(s[end - 1]))
        end--;
    if (kvs_buf_reserve(out, end - i) != 0)
        return -1;
    w = out->data + out->len;
    while (i < end) {
        if (is_blank(s[i])) {
            *w++ = ' ';
            while (is_blank(s[i])) /* the run ends before `end`: the tail was trimmed */
                i++;
        } else {
            *w++ = s[i++];
        }
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int kvs_canonical_headers(kvs_header *headers, size_t n, kvs_buf *lines, kvs_buf *signed_names)
{
    sort_headers(headers, n);
    for (size_t i = 0; i < n; i++) {
        int same_as_previous = i > 0 && compare_names(&headers[i - 1], &headers[i]) == 0;
        if (same_as_previous) {
            lines->len--; /* reopen the previous line to join this value */
            if (kvs_buf_putc(lines, ',') != 0)
                return -1;
        } else {
            if ((i && kvs_buf_putc(signed_names, ';') != 0) ||
                append_lower(signed_names, headers[i].name, headers[i].name_len) != 0 ||
                append_lower(lines, headers[i].name, headers[i].name_len) != 0 ||
                kvs_buf_putc(lines, ':') != 0)
                return -1;
        }
        if (append_trimmed(lines, headers[i].value, headers[i].value_len) != 0 ||
            kvs_buf_putc(lines, '\n') != 0)
            return -1;
    }
    return 0;
}
