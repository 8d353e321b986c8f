/* libFuzzer target: query string canonicalization. The bytes are the raw
 * query of a caller's URL (after '?'). */
#include "canonical.h"
#include "fuzz_util.h"

static void canonical(const char *q, size_t len, kvs_buf *out)
{
    kvs_buf text = {0}, params = {0};
    FUZZ_CHECK(kvs_query_parse(q, len, &text, &params) == 0);
    FUZZ_CHECK(params.len % sizeof(kvs_query_param) == 0);
    for (size_t i = 0; i < params.len / sizeof(kvs_query_param); i++) {
        const kvs_query_param *p = (const kvs_query_param *)(void *)params.data + i;
        FUZZ_CHECK(p->key_off <= text.len && p->key_len <= text.len - p->key_off);
        FUZZ_CHECK(p->val_off <= text.len && p->val_len <= text.len - p->val_off);
    }
    FUZZ_CHECK(kvs_query_canonical(out, &text, &params) == 0);
    kvs_buf_free(&text);
    kvs_buf_free(&params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvs_buf once = {0}, twice = {0};
    const char *prev = NULL;

    canonical((const char *)data, size, &once);
    FUZZ_CHECK(fuzz_is_encoded(once.data ? once.data : "", once.len, "=&"));

    /* Pairs come out sorted: each "k=v" compares >= the one before it. */
    for (size_t i = 0, start = 0; once.len > 0 && i <= once.len; i++) {
        if (i < once.len && once.data[i] != '&')
            continue;
        {
            const char *cur = once.data + start;
            size_t cur_len = i - start, key_len = 0, prev_key = 0;
            FUZZ_CHECK(memchr(cur, '=', cur_len) != NULL); /* every pair has '=' */
            while (cur[key_len] != '=')
                key_len++;
            if (prev) {
                int c;
                while (prev[prev_key] != '=')
                    prev_key++;
                c = memcmp(prev, cur, prev_key < key_len ? prev_key : key_len);
                FUZZ_CHECK(c < 0 || (c == 0 && prev_key <= key_len));
            }
            prev = cur;
        }
        start = i + 1;
    }

    /* Canonical text is a fixed point. */
    canonical(once.data ? once.data : "", once.len, &twice);
    FUZZ_CHECK(once.len == twice.len && (once.len == 0 || memcmp(once.data, twice.data, once.len) == 0));

    kvs_buf_free(&once);
    kvs_buf_free(&twice);
    return 0;
}
