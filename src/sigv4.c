/* SigV4 as a pipeline of small stages: canonical request, string to sign,
 * signature, then the authorization value or presigned URL. The signing key
 * is cached per (secret, date, region, service) as ready HMAC states. */
#include "sigv4.h"
#include "ascii.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_LEN 32
#define SHA256_BLOCK 64

struct kvs_signer {
    EVP_MD *sha256;
    EVP_MD_CTX *digest;            /* reused for every hash */
    EVP_MD_CTX *key_inner, *key_outer; /* HMAC states of the cached signing key */
    int have_key;
    kvs_buf key_secret, key_scope; /* what the cached key was derived from */
    kvs_buf headers;               /* kvs_header array: the caller's plus ours */
    kvs_buf header_lines, signed_names, query_text, query_params, extra_query, scope;
};

void kvs_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void wipe_buf(kvs_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    kvs_buf_free(b);
}

kvs_signer *kvs_signer_new(void)
{
    kvs_signer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->digest = EVP_MD_CTX_new();
    s->key_inner = EVP_MD_CTX_new();
    s->key_outer = EVP_MD_CTX_new();
    if (!s->sha256 || !s->digest || !s->key_inner || !s->key_outer) {
        kvs_signer_free(s);
        return NULL;
    }
    return s;
}

void kvs_signer_free(kvs_signer *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->digest); /* frees clear the digest state */
    EVP_MD_CTX_free(s->key_inner);
    EVP_MD_CTX_free(s->key_outer);
    EVP_MD_free(s->sha256);
    wipe_buf(&s->key_secret);
    kvs_buf_free(&s->key_scope);
    kvs_buf_free(&s->headers);
    kvs_buf_free(&s->header_lines);
    kvs_buf_free(&s->signed_names);
    kvs_buf_free(&s->query_text);
    kvs_buf_free(&s->query_params);
    kvs_buf_free(&s->extra_query);
    kvs_buf_free(&s->scope);
    free(s);
}

void kvs_sign_result_free(kvs_sign_result *r)
{
    kvs_buf_free(&r->canonical_request);
    kvs_buf_free(&r->string_to_sign);
    kvs_buf_free(&r->authorization);
    kvs_buf_free(&r->url);
    kvs_buf_free(&r->host);
}

int kvs_sha256(kvs_signer *s, const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    return EVP_DigestInit_ex(s->digest, s->sha256, NULL) == 1 &&
                   EVP_DigestUpdate(s->digest, data, len) == 1 &&
                   EVP_DigestFinal_ex(s->digest, out, NULL) == 1
               ? 0
               : -1;
}

/* Loads the inner and outer HMAC states for `key` into two contexts. */
static int hmac_states(kvs_signer *s, const unsigned char *key, size_t key_len,
                       EVP_MD_CTX *inner, EVP_MD_CTX *outer)
{
    unsigned char block[SHA256_BLOCK], hashed[SHA256_LEN];
    int rc = -1;
    if (key_len > SHA256_BLOCK) {
        if (kvs_sha256(s, key, key_len, hashed) != 0)
            goto done;
        key = hashed;
        key_len = SHA256_LEN;
    }
    memset(block, 0, sizeof block);
    memcpy(block, key, key_len);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        block[i] ^= 0x36;
    if (EVP_DigestInit_ex(inner, s->sha256, NULL) != 1 || EVP_DigestUpdate(inner, block, sizeof block) != 1)
        goto done;
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        block[i] ^= 0x36 ^ 0x5c;
    if (EVP_DigestInit_ex(outer, s->sha256, NULL) != 1 || EVP_DigestUpdate(outer, block, sizeof block) != 1)
        goto done;
    rc = 0;
done:
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(hashed, sizeof hashed);
    return rc;
}

/* HMAC-SHA256 of msg from ready states; the states are left untouched. */
static int hmac_finish(kvs_signer *s, EVP_MD_CTX *inner, EVP_MD_CTX *outer, const void *msg,
                       size_t len, unsigned char out[SHA256_LEN])
{
    unsigned char ih[SHA256_LEN];
    int ok = EVP_MD_CTX_copy_ex(s->digest, inner) == 1 && EVP_DigestUpdate(s->digest, msg, len) == 1 &&
             EVP_DigestFinal_ex(s->digest, ih, NULL) == 1 && EVP_MD_CTX_copy_ex(s->digest, outer) == 1 &&
             EVP_DigestUpdate(s->digest, ih, sizeof ih) == 1 && EVP_DigestFinal_ex(s->digest, out, NULL) == 1;
    OPENSSL_cleanse(ih, sizeof ih);
    return ok ? 0 : -1;
}

static int hmac(kvs_signer *s, const unsigned char *key, size_t key_len, const char *msg,
                unsigned char out[SHA256_LEN])
{
    int rc = hmac_states(s, key, key_len, s->key_inner, s->key_outer) != 0
                 ? -1
                 : hmac_finish(s, s->key_inner, s->key_outer, msg, strlen(msg), out);
    s->have_key = 0; /* the key states were used as scratch */
    return rc;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"),
 * kept only as HMAC states; every intermediate is wiped. */
static int derive_key(kvs_signer *s, const kvs_sign_params *p, const char *date)
{
    unsigned char k[SHA256_LEN];
    kvs_buf seed = {0};
    int rc = -1;
    if (kvs_buf_puts(&seed, "AWS4") != 0 || kvs_buf_append(&seed, p->secret_access_key, p->secret_len) != 0)
        goto done;
    if (hmac(s, (unsigned char *)seed.data, seed.len, date, k) != 0 ||
        hmac(s, k, sizeof k, p->region, k) != 0 || hmac(s, k, sizeof k, p->service, k) != 0 ||
        hmac(s, k, sizeof k, "aws4_request", k) != 0 ||
        hmac_states(s, k, sizeof k, s->key_inner, s->key_outer) != 0)
        goto done;
    wipe_buf(&s->key_secret);
    kvs_buf_clear(&s->key_scope);
    if (kvs_buf_append(&s->key_secret, p->secret_access_key, p->secret_len) != 0 ||
        kvs_buf_append(&s->key_scope, s->scope.data, s->scope.len) != 0)
        goto done;
    s->have_key = 1;
    rc = 0;
done:
    OPENSSL_cleanse(k, sizeof k);
    wipe_buf(&seed);
    return rc;
}

static int key_is_cached(const kvs_signer *s, const kvs_sign_params *p)
{
    return s->have_key && s->key_secret.len == p->secret_len &&
           CRYPTO_memcmp(s->key_secret.data, p->secret_access_key, p->secret_len) == 0 &&
           s->key_scope.len == s->scope.len && memcmp(s->key_scope.data, s->scope.data, s->scope.len) == 0;
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm): no
 * locale, time zone or lock, unlike gmtime_r + strftime. */
static void civil_from_days(long long z, int *y, int *m, int *d)
{
    long long era, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    yoe = z - era * 146097;
    yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
    doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put_digits(char *out, int value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

static int format_time(long long t, char amz_date[17])
{
    int y, m, d, secs;
    if (t < 0 || t > 253402300799LL) /* up to 9999-12-31T23:59:59Z */
        return -1;
    civil_from_days(t / 86400, &y, &m, &d);
    secs = (int)(t % 86400);
    put_digits(amz_date, y, 4);
    put_digits(amz_date + 4, m, 2);
    put_digits(amz_date + 6, d, 2);
    amz_date[8] = 'T';
    put_digits(amz_date + 9, secs / 3600, 2);
    put_digits(amz_date + 11, secs / 60 % 60, 2);
    put_digits(amz_date + 13, secs % 60, 2);
    amz_date[15] = 'Z';
    amz_date[16] = '\0';
    return 0;
}

static int names_equal(const kvs_header *h, const char *lower_name)
{
    return kvs_names_equal_ci(h->name, h->name_len, lower_name, strlen(lower_name));
}

static int push_header(kvs_buf *list, const char *name, const char *value, size_t value_len)
{
    kvs_header h = {name, strlen(name), value, value_len};
    return kvs_buf_append(list, &h, sizeof h);
}

/* Messages quote caller input (a header name): kvs_one_line keeps them one
 * printable line wherever they are logged. (Found by spec/fuzz/fuzz_sign.c;
 * regression input in its corpus.) */
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, err_len, __VA_ARGS__);                                                       \
        kvs_one_line(err);                                                                         \
        return -1;                                                                                 \
    } while (0)

/* The headers to sign: the caller's (less the ones the signer owns) plus
 * Host when absent and, in header mode, X-Amz-Date and the session token. */
static int collect_headers(kvs_signer *s, const kvs_sign_params *p, kvs_sign_result *r, char *err,
                           size_t err_len)
{
    int has_host = 0;
    kvs_buf_clear(&s->headers);
    for (size_t i = 0; i < p->n_headers; i++) {
        const kvs_header *h = &p->headers[i];
        if (!kvs_header_name_ok(h->name, h->name_len))
            FAIL("headers: name '%.*s' is not a valid HTTP header name", (int)(h->name_len > 64 ? 64 : h->name_len), h->name);
        if (!kvs_header_value_ok(h->value, h->value_len))
            FAIL("headers: value of '%.*s' must not contain CR, LF or NUL", (int)(h->name_len > 64 ? 64 : h->name_len), h->name);
        if (names_equal(h, "authorization") || names_equal(h, "x-amz-date") ||
            names_equal(h, "x-amz-security-token"))
            continue;
        if (names_equal(h, "host"))
            has_host = 1;
        if (kvs_buf_append(&s->headers, h, sizeof *h) != 0)
            FAIL("out of memory");
    }
    if (!has_host && push_header(&s->headers, "host", r->host.data, r->host.len) != 0)
        FAIL("out of memory");
    if (!p->presign) {
        if (push_header(&s->headers, "x-amz-date", r->amz_date, 16) != 0 ||
            (p->session_token &&
             push_header(&s->headers, "x-amz-security-token", p->session_token, strlen(p->session_token)) != 0))
            FAIL("out of memory");
    }
    return 0;
}

static int add_presign_query(kvs_signer *s, const kvs_sign_params *p, const kvs_sign_result *r)
{
    kvs_buf *q = &s->extra_query;
    char expires[24];
    snprintf(expires, sizeof expires, "%ld", p->expires);
    kvs_buf_clear(q);
    if (kvs_buf_puts(q, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=") != 0 ||
        kvs_uri_encode(q, p->access_key_id, strlen(p->access_key_id), 0) != 0 ||
        kvs_buf_puts(q, "%2F") != 0 || kvs_uri_encode(q, s->scope.data, s->scope.len, 0) != 0 ||
        kvs_buf_puts(q, "&X-Amz-Date=") != 0 || kvs_buf_append(q, r->amz_date, 16) != 0 ||
        kvs_buf_puts(q, "&X-Amz-Expires=") != 0 || kvs_buf_puts(q, expires) != 0 ||
        kvs_buf_puts(q, "&X-Amz-SignedHeaders=") != 0 ||
        kvs_uri_encode(q, s->signed_names.data, s->signed_names.len, 0) != 0)
        return -1;
    if (p->session_token && (kvs_buf_puts(q, "&X-Amz-Security-Token=") != 0 ||
                             kvs_uri_encode(q, p->session_token, strlen(p->session_token), 0) != 0))
        return -1;
    return kvs_query_parse(q->data, q->len, &s->query_text, &s->query_params);
}

static int build_canonical_request(kvs_signer *s, const kvs_sign_params *p, const kvs_url *u,
                                   kvs_sign_result *r, const char *payload_hash)
{
    kvs_buf *cr = &r->canonical_request;
    size_t query_start;
    if (kvs_buf_puts(cr, p->method) != 0 || kvs_buf_putc(cr, '\n') != 0 ||
        kvs_canonical_path(cr, u->path.ptr, u->path.len) != 0 || kvs_buf_putc(cr, '\n') != 0)
        return -1;
    query_start = cr->len;
    if (kvs_query_canonical(cr, &s->query_text, &s->query_params) != 0)
        return -1;
    if (p->presign && kvs_buf_append(&r->url, cr->data + query_start, cr->len - query_start) != 0)
        return -1;
    return kvs_buf_putc(cr, '\n') != 0 || kvs_buf_append(cr, s->header_lines.data, s->header_lines.len) != 0 ||
                   kvs_buf_putc(cr, '\n') != 0 ||
                   kvs_buf_append(cr, s->signed_names.data, s->signed_names.len) != 0 ||
                   kvs_buf_putc(cr, '\n') != 0 || kvs_buf_puts(cr, payload_hash) != 0
               ? -1
               : 0;
}

static void clear_result(kvs_sign_result *r)
{
    kvs_buf_clear(&r->canonical_request);
    kvs_buf_clear(&r->string_to_sign);
    kvs_buf_clear(&r->authorization);
    kvs_buf_clear(&r->url);
    kvs_buf_clear(&r->host);
    r->amz_date[0] = r->signature[0] = '\0';
}

int kvs_sign(kvs_signer *s, const kvs_sign_params *p, kvs_sign_result *r, char *err, size_t err_len)
{
    kvs_url u;
    const char *why = NULL;
    unsigned char digest[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];

    clear_result(r);
    if (!kvs_header_name_ok(p->method, strlen(p->method)))
        FAIL("method: must be an HTTP method token such as POST");
    if (kvs_url_split(p->url, p->url_len, &u, &why) != 0)
        FAIL("url: %s", why);
    if (format_time(p->time, r->amz_date) != 0)
        FAIL("time: must be Unix seconds between 1970 and 9999");
    if (p->presign && (p->expires < 1 || p->expires > 604800))
        FAIL("expires: must be between 1 and 604800 seconds");

    kvs_buf_clear(&s->scope);
    if (kvs_buf_append(&s->scope, r->amz_date, 8) != 0 || kvs_buf_putc(&s->scope, '/') != 0 ||
        kvs_buf_puts(&s->scope, p->region) != 0 || kvs_buf_putc(&s->scope, '/') != 0 ||
        kvs_buf_puts(&s->scope, p->service) != 0 || kvs_buf_puts(&s->scope, "/aws4_request") != 0 ||
        kvs_url_host_header(&u, &r->host) != 0)
        FAIL("out of memory");

    if (collect_headers(s, p, r, err, err_len) != 0)
        return -1;
    kvs_buf_clear(&s->header_lines);
    kvs_buf_clear(&s->signed_names);
    kvs_buf_clear(&s->query_text);
    kvs_buf_clear(&s->query_params);
    if (kvs_canonical_headers((kvs_header *)(void *)s->headers.data, s->headers.len / sizeof(kvs_header),
                              &s->header_lines, &s->signed_names) != 0 ||
        kvs_query_parse(u.query.ptr, u.query.len, &s->query_text, &s->query_params) != 0 ||
        (p->presign && add_presign_query(s, p, r) != 0))
        FAIL("out of memory");

    if (p->presign) {
        size_t before_path = (size_t)(u.path.ptr - p->url);
        if (kvs_buf_append(&r->url, p->url, before_path + u.path.len) != 0 ||
            (u.path.len == 0 && kvs_buf_putc(&r->url, '/') != 0) || kvs_buf_putc(&r->url, '?') != 0)
            FAIL("out of memory");
    }
    if (kvs_sha256(s, p->body ? p->body : "", p->body_len, digest) != 0)
        FAIL("SHA-256 failed");
    kvs_hex(digest, sizeof digest, hex);
    if (build_canonical_request(s, p, &u, r, hex) != 0)
        FAIL("out of memory");

    if (kvs_sha256(s, r->canonical_request.data, r->canonical_request.len, digest) != 0)
        FAIL("SHA-256 failed");
    kvs_hex(digest, sizeof digest, hex);
    if (kvs_buf_puts(&r->string_to_sign, ALGORITHM "\n") != 0 ||
        kvs_buf_append(&r->string_to_sign, r->amz_date, 16) != 0 ||
        kvs_buf_putc(&r->string_to_sign, '\n') != 0 ||
        kvs_buf_append(&r->string_to_sign, s->scope.data, s->scope.len) != 0 ||
        kvs_buf_putc(&r->string_to_sign, '\n') != 0 || kvs_buf_puts(&r->string_to_sign, hex) != 0)
        FAIL("out of memory");

    if (!key_is_cached(s, p)) {
        char date[9];
        memcpy(date, r->amz_date, 8);
        date[8] = '\0';
        if (derive_key(s, p, date) != 0)
            FAIL("signing key derivation failed");
    }
    if (hmac_finish(s, s->key_inner, s->key_outer, r->string_to_sign.data, r->string_to_sign.len, digest) != 0)
        FAIL("HMAC failed");
    kvs_hex(digest, sizeof digest, r->signature);

    if (p->presign) {
        if (kvs_buf_puts(&r->url, "&X-Amz-Signature=") != 0 || kvs_buf_puts(&r->url, r->signature) != 0)
            FAIL("out of memory");
    } else if (kvs_buf_puts(&r->authorization, ALGORITHM " Credential=") != 0 ||
               kvs_buf_puts(&r->authorization, p->access_key_id) != 0 ||
               kvs_buf_putc(&r->authorization, '/') != 0 ||
               kvs_buf_append(&r->authorization, s->scope.data, s->scope.len) != 0 ||
               kvs_buf_puts(&r->authorization, ", SignedHeaders=") != 0 ||
               kvs_buf_append(&r->authorization, s->signed_names.data, s->signed_names.len) != 0 ||
               kvs_buf_puts(&r->authorization, ", Signature=") != 0 ||
               kvs_buf_puts(&r->authorization, r->signature) != 0) {
        FAIL("out of memory");
    }
    return 0;
}
