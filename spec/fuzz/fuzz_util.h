/* Shared by the libFuzzer targets: an invariant check that reports and
 * aborts (libFuzzer then keeps the input as a crash artifact), and a cursor
 * that cuts the fuzzer's bytes into separator-delimited fields. */
#ifndef KVS_FUZZ_UTIL_H
#define KVS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    const uint8_t *p;
    size_t left;
} fuzz_cursor;

/* The next field up to `sep` (excluded) or the end of the input. Returns 0
 * when the input is used up. */
static inline int fuzz_next(fuzz_cursor *c, char sep, const char **field, size_t *len)
{
    const uint8_t *end;
    if (!c->p)
        return 0;
    end = c->left ? memchr(c->p, sep, c->left) : NULL;
    *field = (const char *)c->p;
    if (end) {
        *len = (size_t)(end - c->p);
        c->left -= *len + 1;
        c->p = end + 1;
    } else {
        *len = c->left;
        c->p = NULL; /* the last field: the next call reports the end */
        c->left = 0;
    }
    return 1;
}

/* A private NUL-terminated copy, for functions that take C strings. */
static inline char *fuzz_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static inline int fuzz_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static inline int fuzz_is_upper_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Every byte of s[0..n) is unreserved, an allowed extra, or part of a %XX
 * escape with upper-case hex digits. */
static inline int fuzz_is_encoded(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (fuzz_is_unreserved(c) || (c && strchr(extra, c)))
            continue;
        if (c != '%' || i + 2 >= n || !fuzz_is_upper_hex((unsigned char)s[i + 1]) ||
            !fuzz_is_upper_hex((unsigned char)s[i + 2]))
            return 0;
        i += 2;
    }
    return 1;
}

#endif
