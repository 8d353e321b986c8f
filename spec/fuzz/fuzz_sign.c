/* libFuzzer target: the whole signer, header and query (presign) modes, on a
 * fuzzed method, URL, headers and body.
 *
 * Input: one flags byte, then method 0xFF url 0xFF header lines ("name:value"
 * separated by '\n') 0xFF body (the rest, any bytes). */
#include "sigv4.h"
#include "fuzz_util.h"

#define MAX_HEADERS 64
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE"

static kvs_signer *shared; /* lives across inputs, like the module's, so the key cache is exercised */
static int input_has_secret; /* the secret checks only hold when the input does not quote it */

static int has_secret(const char *s, size_t n)
{
    return !input_has_secret && s && n >= strlen(SECRET) && strstr(s, SECRET) != NULL;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void check_one(const kvs_sign_params *p)
{
    kvs_sign_result r, again, fresh_r;
    kvs_signer *fresh;
    char err[256], err2[256];
    int rc;

    memset(&r, 0, sizeof r);
    memset(&again, 0, sizeof again);
    memset(&fresh_r, 0, sizeof fresh_r);
    err[0] = '\0';
    rc = kvs_sign(shared, p, &r, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(printable(err)); /* one line: it ends up in an error message */
        FUZZ_CHECK(!has_secret(err, strlen(err)));
        goto done;
    }
    FUZZ_CHECK(strlen(r.signature) == 64 && is_lower_hex(r.signature, 64));
    FUZZ_CHECK(strlen(r.amz_date) == 16 && r.amz_date[8] == 'T' && r.amz_date[15] == 'Z');
    FUZZ_CHECK(r.canonical_request.len > 0 && r.string_to_sign.len > 0);
    FUZZ_CHECK(r.host.len > 0);
    FUZZ_CHECK(!has_secret(r.canonical_request.data, r.canonical_request.len));
    if (p->presign) {
        kvs_url u;
        const char *why;
        const char *sig = "&X-Amz-Signature=";
        FUZZ_CHECK(r.url.len > strlen(sig) + 64);
        FUZZ_CHECK(memcmp(r.url.data + r.url.len - 64 - strlen(sig), sig, strlen(sig)) == 0);
        FUZZ_CHECK(kvs_url_split(r.url.data, r.url.len, &u, &why) == 0);
        FUZZ_CHECK(u.has_query);
        FUZZ_CHECK(!has_secret(r.url.data, r.url.len));
        FUZZ_CHECK(r.authorization.len == 0);
    } else {
        FUZZ_CHECK(strncmp(r.authorization.data, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) == 0);
        FUZZ_CHECK(memchr(r.authorization.data, '\n', r.authorization.len) == NULL);
        FUZZ_CHECK(memchr(r.authorization.data, '\r', r.authorization.len) == NULL);
        FUZZ_CHECK(r.url.len == 0);
    }

    /* The same request signs the same, from the cache and from scratch. */
    FUZZ_CHECK(kvs_sign(shared, p, &again, err2, sizeof err2) == 0);
    FUZZ_CHECK(strcmp(r.signature, again.signature) == 0);
    fresh = kvs_signer_new();
    FUZZ_CHECK(fresh != NULL);
    FUZZ_CHECK(kvs_sign(fresh, p, &fresh_r, err2, sizeof err2) == 0);
    FUZZ_CHECK(strcmp(r.signature, fresh_r.signature) == 0);
    FUZZ_CHECK(r.canonical_request.len == fresh_r.canonical_request.len &&
               memcmp(r.canonical_request.data, fresh_r.canonical_request.data, r.canonical_request.len) == 0);
    kvs_signer_free(fresh);
done:
    kvs_sign_result_free(&r);
    kvs_sign_result_free(&again);
    kvs_sign_result_free(&fresh_r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long long times[] = {1440938160LL, 0, 253402300799LL, 253402300800LL, -1, 1700000000LL, 951782400LL, 4107542400LL};
    static const long expires[] = {300, 1, 604800, 0, 604801, -5, 3600, 86400};
    static const char *regions[] = {"us-west-2", "cn-north-1", "x", "us-gov-west-1"};
    kvs_header headers[MAX_HEADERS];
    kvs_sign_params p;
    fuzz_cursor c;
    const char *method = "POST", *url = "", *hblock = "", *line;
    size_t method_len = 4, url_len = 0, hblock_len = 0, len;
    char *method_z;
    uint8_t flags;

    if (!shared && !(shared = kvs_signer_new()))
        abort();
    if (size < 1)
        return 0;
    flags = data[0];
    input_has_secret = 0;
    for (size_t i = 0; i + strlen(SECRET) <= size && !input_has_secret; i++)
        input_has_secret = memcmp(data + i, SECRET, strlen(SECRET)) == 0;
    c.p = data + 1;
    c.left = size - 1;
    if (c.left == 0)
        c.p = NULL;
    fuzz_next(&c, (char)0xFF, &method, &method_len);
    fuzz_next(&c, (char)0xFF, &url, &url_len);
    fuzz_next(&c, (char)0xFF, &hblock, &hblock_len);

    memset(&p, 0, sizeof p);
    method_z = fuzz_strndup(method, method_len); /* the signer takes a C string */
    p.method = method_z;
    p.url = url;
    p.url_len = url_len;
    {
        fuzz_cursor hc = {(const uint8_t *)hblock, hblock_len};
        if (hblock_len == 0)
            hc.p = NULL;
        while (p.n_headers < MAX_HEADERS && fuzz_next(&hc, '\n', &line, &len)) {
            const char *colon = memchr(line, ':', len);
            kvs_header *h = &headers[p.n_headers++];
            h->name = line;
            h->name_len = colon ? (size_t)(colon - line) : len;
            h->value = colon ? colon + 1 : line + len;
            h->value_len = colon ? len - h->name_len - 1 : 0;
        }
    }
    p.headers = headers;
    p.body = c.p ? (const char *)c.p : NULL;
    p.body_len = c.p ? c.left : 0;
    p.region = regions[(flags >> 6) & 3];
    p.service = "kinesisvideo";
    p.access_key_id = "AKIDEXAMPLE";
    p.secret_access_key = SECRET;
    p.secret_len = (flags & 0x20) ? strlen(SECRET) : 12; /* two keys: the cache must tell them apart */
    p.session_token = (flags & 0x10) ? TOKEN : NULL;
    p.time = times[(flags >> 1) & 7];
    p.expires = expires[(flags >> 3) & 1 ? (flags >> 1) & 7 : 0];

    p.presign = 0;
    check_one(&p);
    p.presign = 1;
    check_one(&p);

    free(method_z);
    return 0;
}
