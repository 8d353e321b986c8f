/* AWS Signature Version 4 for a normal (non-S3) service, header and query
 * (presigned URL) modes. The time is an input; nothing here reads a clock or
 * knows of Lua. */
#ifndef KVS_SIGV4_H
#define KVS_SIGV4_H

#include <stddef.h>
#include "buf.h"
#include "canonical.h"

typedef struct kvs_signer kvs_signer;

typedef struct {
    const char *method;
    const char *url;
    size_t url_len;
    const kvs_header *headers; /* the caller's; Host is added when absent */
    size_t n_headers;
    const char *body;
    size_t body_len;
    const char *region;
    const char *service;
    const char *access_key_id;
    const char *secret_access_key;
    size_t secret_len;
    const char *session_token; /* NULL when none */
    long long time;            /* Unix seconds */
    int presign;               /* query mode */
    long expires;              /* query mode: X-Amz-Expires, 1..604800 */
} kvs_sign_params;

typedef struct {
    kvs_buf canonical_request;
    kvs_buf string_to_sign;
    kvs_buf authorization; /* header mode */
    kvs_buf url;           /* query mode: the presigned URL */
    kvs_buf host;          /* the Host header value */
    char amz_date[17];     /* YYYYMMDDTHHMMSSZ */
    char signature[65];
} kvs_sign_result;

kvs_signer *kvs_signer_new(void);
/* Wipes the cached key and secret. Safe on NULL. */
void kvs_signer_free(kvs_signer *s);

/* Returns 0, or -1 with a message in err naming the offending input. The
 * result's buffers are cleared and reused across calls. */
int kvs_sign(kvs_signer *s, const kvs_sign_params *p, kvs_sign_result *r, char *err, size_t err_len);

void kvs_sign_result_free(kvs_sign_result *r);

/* Helpers the binding and tests share. */
void kvs_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
int kvs_sha256(kvs_signer *s, const void *data, size_t len, unsigned char out[32]);

#endif
