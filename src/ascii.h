/* ASCII helpers the C layers share: HTTP tokens, case-insensitive names,
 * and making caller text safe to quote in a one-line message. Locale-free
 * on purpose: HTTP and SigV4 are defined on ASCII bytes. */
#ifndef KVS_ASCII_H
#define KVS_ASCII_H

#include <stddef.h>

static inline unsigned char kvs_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* RFC 9110 tchar: the bytes of a method or a header name. */
static inline int kvs_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

static inline int kvs_names_equal_ci(const char *a, size_t al, const char *b, size_t bl)
{
    if (al != bl)
        return 0;
    for (size_t i = 0; i < al; i++)
        if (kvs_ascii_lower((unsigned char)a[i]) != kvs_ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Replaces control bytes in a NUL-terminated message with '?', so caller
 * input quoted in it (a header name, say) keeps it one printable line. */
static inline void kvs_one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

#endif
