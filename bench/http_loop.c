/* Baseline for the HTTP benchmark: plain libcurl, nothing of this project.
 * `http_loop URL N` makes N POSTs of a small JSON body on one easy handle
 * whose options are set once, so every call after the first reuses the
 * keep-alive connection. Prints "calls_per_second <float>"; exits non-zero
 * on a transfer error or any status other than 200. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char BODY[] =
    "{\"ChannelARN\":\"arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123\"}";

/* A SigV4-shaped value of realistic length; its content does not matter. */
static const char AUTHORIZATION[] =
    "Authorization: AWS4-HMAC-SHA256 "
    "Credential=AKIDEXAMPLE/20150830/us-west-2/kinesisvideo/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

typedef struct {
    char *data;
    size_t len, cap;
} buffer;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    buffer *b = ud;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *q;
        while (cap < b->len + n + 1)
            cap *= 2;
        q = realloc(b->data, cap);
        if (!q)
            return 0;
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    CURL *c;
    struct curl_slist *headers = NULL, *l;
    buffer body = {NULL, 0, 0};
    char *end;
    long n, i, code = 0;
    double t0, dt;
    int rc = 0;

    if (argc != 3 || (n = strtol(argv[2], &end, 10)) <= 0 || *end) {
        fprintf(stderr, "usage: %s URL N\n", argv[0]);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c = curl_easy_init()) == NULL) {
        fprintf(stderr, "http_loop: cannot initialise libcurl\n");
        return 1;
    }
    const char *lines[] = {"Content-Type: application/json", AUTHORIZATION,
                           "X-Amz-Date: 20150830T123600Z", "Expect:", "Accept:"};
    for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
        if ((l = curl_slist_append(headers, lines[k])) == NULL) {
            fprintf(stderr, "http_loop: out of memory\n");
            return 1;
        }
        headers = l;
    }
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(sizeof BODY - 1));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, BODY);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);

    t0 = now();
    for (i = 0; i < n; i++) {
        CURLcode cc;
        body.len = 0;
        cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
            fprintf(stderr, "http_loop: call %ld: %s\n", i + 1, curl_easy_strerror(cc));
            rc = 1;
            break;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) {
            fprintf(stderr, "http_loop: call %ld: status %ld\n", i + 1, code);
            rc = 1;
            break;
        }
    }
    dt = now() - t0;
    if (rc == 0)
        printf("calls_per_second %.1f\n", dt > 0 ? (double)n / dt : 0.0);

    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    free(body.data);
    curl_global_cleanup();
    return rc;
}
