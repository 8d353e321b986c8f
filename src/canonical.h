/* The text rules of SigV4 for a normal (non-S3) service: URL splitting, path
 * normalization and encoding, query and header canonicalization. Pure
 * functions over caller-supplied bytes, so each can be tested and fuzzed alone. */
#ifndef KVS_CANONICAL_H
#define KVS_CANONICAL_H

#include <stddef.h>
#include "buf.h"

typedef struct {
    const char *ptr;
    size_t len;
} kvs_str;

typedef struct {
    kvs_str scheme;   /* lower-case letters only, e.g. "https" */
    kvs_str host;     /* as written, with brackets for IPv6 literals */
    kvs_str port;     /* empty when the URL has none */
    kvs_str path;     /* as carried, "" when absent */
    kvs_str query;    /* without '?', fragment excluded */
    int has_query;
} kvs_url;

/* Splits scheme://host[:port][/path][?query][#fragment]. Rejects user info,
 * control bytes, an empty host and a non-numeric port. Returns 0 or -1 with a
 * reason in `why`. */
int kvs_url_split(const char *url, size_t len, kvs_url *out, const char **why);

/* The Host header value: host, plus ":port" unless it is the scheme's default. */
int kvs_url_host_header(const kvs_url *u, kvs_buf *out);

/* Appends the RFC 3986 encoding of `s` (unreserved bytes kept, others %XX
 * upper-case); '/' is kept when keep_slash is set. */
int kvs_uri_encode(kvs_buf *out, const char *s, size_t len, int keep_slash);

/* Removes "." and ".." segments and empty segments, keeps a trailing slash,
 * then encodes each segment as carried (so "%20" becomes "%2520"). */
int kvs_canonical_path(kvs_buf *out, const char *path, size_t len);

/* One query parameter, already encoded, pointing into a caller's buffer. */
typedef struct {
    size_t key_off, key_len, val_off, val_len;
    const char *key, *val; /* set from the offsets when sorting */
} kvs_query_param;

/* Decodes and re-encodes each key and value of a raw query into `text` and
 * appends their positions to `params` (an array of kvs_query_param). */
int kvs_query_parse(const char *query, size_t len, kvs_buf *text, kvs_buf *params);

/* Appends the parameters sorted by encoded key, then value, as k=v&k=v. */
int kvs_query_canonical(kvs_buf *out, const kvs_buf *text, kvs_buf *params);

/* A header for canonicalization; names are compared case-insensitively. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} kvs_header;

/* Checks a header name is an HTTP token and a value has no CR, LF or NUL. */
int kvs_header_name_ok(const char *s, size_t len);
int kvs_header_value_ok(const char *s, size_t len);

/* Sorts headers by lower-cased name (stable, so duplicates keep their order)
 * and appends the canonical header lines ("name:value\n", duplicates joined
 * with ',', values trimmed and inner blank runs collapsed) to `lines` and the
 * ';'-joined names to `signed_names`. `headers` is reordered in place. */
int kvs_canonical_headers(kvs_header *headers, size_t n, kvs_buf *lines,
                          kvs_buf *signed_names);

#endif
