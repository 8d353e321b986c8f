/* HTTP over libcurl: one easy handle per client, reused so that sequential
 * requests share a keep-alive connection and TLS session. Knows nothing of Lua. */
#ifndef KVS_HTTP_H
#define KVS_HTTP_H

#include <stddef.h>
#include "buf.h"

typedef struct kvs_http kvs_http;

typedef struct {
    const char *name;  /* NUL-terminated */
    const char *value; /* NUL-terminated; the caller has rejected CR, LF and NUL */
} kvs_http_header;

typedef struct {
    const char *method;
    const char *url;
    const kvs_http_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    long timeout_ms;         /* the whole exchange; 0 means none */
    long connect_timeout_ms; /* 0 means libcurl's default */
    const char *ca_file;     /* NULL: the system's trust store */
    int verify_tls;          /* 0 only when the caller asked for it */
    size_t max_body;         /* a longer answer fails with KVS_HTTP_TOO_LARGE */
} kvs_http_request;

typedef struct {
    long status;
    kvs_buf headers; /* the final header block: "name: value\r\n" lines, status line excluded */
    kvs_buf body;
} kvs_http_response;

typedef enum {
    KVS_HTTP_OK = 0,
    KVS_HTTP_TIMEOUT,   /* connect or total timeout reached */
    KVS_HTTP_NETWORK,   /* refused, DNS, TLS, connection dropped */
    KVS_HTTP_TOO_LARGE, /* body over max_body; reading stopped there */
    KVS_HTTP_INTERNAL   /* out of memory, bad option */
} kvs_http_status;

/* Once per process, before any thread uses libcurl; safe to call repeatedly. */
int kvs_http_global_init(void);

kvs_http *kvs_http_new(void);
void kvs_http_free(kvs_http *h);

/* Performs one exchange. The response buffers are cleared first and reused.
 * On failure, `err` holds a one-line message (never request headers). */
kvs_http_status kvs_http_perform(kvs_http *h, const kvs_http_request *req,
                                 kvs_http_response *resp, char *err, size_t err_len);

void kvs_http_response_free(kvs_http_response *resp);

/* Splits one response header line ("Name: value", no CR/LF) into a name and
 * a value with surrounding blanks trimmed. Returns 0 on success, -1 when the
 * line is not a header (no colon, empty or invalid name). */
int kvs_http_parse_header_line(const char *line, size_t len,
                               const char **name, size_t *name_len,
                               const char **value, size_t *value_len);

#endif
