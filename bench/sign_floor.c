/* The floor for one SigV4 signature: only the crypto it needs, with the
 * signing key already derived. SHA-256 of the body, SHA-256 of the canonical
 * request, HMAC-SHA256 of the string to sign (from ready inner/outer states),
 * hex of each. Prints microseconds per signature. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char BODY[] =
    "{\"ChannelARN\":\"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123\","
    "\"ClientId\":\"viewer-1\",\"Service\":\"TURN\"}";
static const char CANONICAL_REQUEST[] =
    "POST\n/v1/get-ice-server-config\n\ncontent-type:application/json\n"
    "host:r-1234abcd.kinesisvideo.us-west-2.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
    "content-type;host;x-amz-date\n"
    "0000000000000000000000000000000000000000000000000000000000000000";
static const char STRING_TO_SIGN[] =
    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-west-2/kinesisvideo/aws4_request\n"
    "0000000000000000000000000000000000000000000000000000000000000000";

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *inner = EVP_MD_CTX_new(), *outer = EVP_MD_CTX_new();
    unsigned char key[64], out[32], ih[32];
    char hx[65];
    long n = 0, iterations = 200000;
    double t0, t1;

    memset(key, 0x11, 32);
    memset(key + 32, 0, 32);
    for (int i = 0; i < 64; i++)
        key[i] ^= 0x36;
    EVP_DigestInit_ex(inner, md, NULL);
    EVP_DigestUpdate(inner, key, 64);
    for (int i = 0; i < 64; i++)
        key[i] ^= 0x36 ^ 0x5c;
    EVP_DigestInit_ex(outer, md, NULL);
    EVP_DigestUpdate(outer, key, 64);

    t0 = now();
    for (n = 0; n < iterations; n++) {
        EVP_DigestInit_ex(ctx, md, NULL);
        EVP_DigestUpdate(ctx, BODY, sizeof BODY - 1);
        EVP_DigestFinal_ex(ctx, out, NULL);
        hex(out, 32, hx);
        EVP_DigestInit_ex(ctx, md, NULL);
        EVP_DigestUpdate(ctx, CANONICAL_REQUEST, sizeof CANONICAL_REQUEST - 1);
        EVP_DigestFinal_ex(ctx, out, NULL);
        hex(out, 32, hx);
        EVP_MD_CTX_copy_ex(ctx, inner);
        EVP_DigestUpdate(ctx, STRING_TO_SIGN, sizeof STRING_TO_SIGN - 1);
        EVP_DigestFinal_ex(ctx, ih, NULL);
        EVP_MD_CTX_copy_ex(ctx, outer);
        EVP_DigestUpdate(ctx, ih, 32);
        EVP_DigestFinal_ex(ctx, out, NULL);
        hex(out, 32, hx);
    }
    t1 = now();
    printf("%.3f\n", (t1 - t0) * 1e6 / (double)iterations);
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
    EVP_MD_free(md);
    return hx[0] == 0;
}
