/* A growable byte buffer: explicit capacity step, inline appends, errors on
 * allocation failure instead of aborting. Knows nothing of Lua. */
#ifndef KVS_BUF_H
#define KVS_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} kvs_buf;

/* Returns 0 on success, -1 when memory cannot be had. */
static inline int kvs_buf_reserve(kvs_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (extra > (size_t)-1 - b->len - 1)
        return -1;
    need = b->len + extra + 1; /* keep room for a terminating NUL */
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int kvs_buf_append(kvs_buf *b, const void *s, size_t n)
{
    if (kvs_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static inline int kvs_buf_puts(kvs_buf *b, const char *s)
{
    return kvs_buf_append(b, s, strlen(s));
}

static inline int kvs_buf_putc(kvs_buf *b, char c)
{
    return kvs_buf_append(b, &c, 1);
}

/* Forget the contents, keep the memory for the next use. */
static inline void kvs_buf_clear(kvs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static inline void kvs_buf_free(kvs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#endif
