/* libFuzzer target: header name/value checks and header canonicalization.
 * The bytes are header lines ("name:value", one per '\n') as a caller's
 * headers table would give them. */
#include "canonical.h"
#include "fuzz_util.h"

#define MAX_HEADERS 256

static int tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void canonicalize(kvs_header *h, size_t n, int all_valid)
{
    kvs_buf lines = {0}, names = {0};
    size_t n_names = 0, n_lines = 0;
    FUZZ_CHECK(kvs_canonical_headers(h, n, &lines, &names) == 0);
    if (!all_valid || n == 0)
        goto done;
    /* signed names: lower-case, strictly increasing, one per distinct name */
    for (size_t i = 0, start = 0; i <= names.len; i++) {
        if (i < names.len && names.data[i] != ';') {
            FUZZ_CHECK(!(names.data[i] >= 'A' && names.data[i] <= 'Z'));
            continue;
        }
        FUZZ_CHECK(i > start);
        if (n_names > 0) {
            /* the previous name ends at start - 1 */
            size_t pstart = start - 1;
            while (pstart > 0 && names.data[pstart - 1] != ';')
                pstart--;
            {
                size_t pl = start - 1 - pstart, cl = i - start;
                int c = memcmp(names.data + pstart, names.data + start, pl < cl ? pl : cl);
                FUZZ_CHECK(c < 0 || (c == 0 && pl < cl));
            }
        }
        n_names++;
        start = i + 1;
    }
    /* canonical lines: "name:value\n", one per name, values trimmed and
     * without blank runs */
    FUZZ_CHECK(lines.len > 0 && lines.data[lines.len - 1] == '\n');
    for (size_t i = 0, start = 0; i < lines.len; i++) {
        const char *line, *colon, *v;
        size_t len, vl;
        if (lines.data[i] != '\n')
            continue;
        line = lines.data + start;
        len = i - start;
        colon = memchr(line, ':', len);
        FUZZ_CHECK(colon != NULL && colon > line);
        FUZZ_CHECK(memchr(line, '\r', len) == NULL);
        v = colon + 1;
        vl = (size_t)(line + len - v);
        if (vl > 0) {
            FUZZ_CHECK(v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' && v[vl - 1] != '\t');
            for (size_t k = 0; k + 1 < vl; k++)
                FUZZ_CHECK(!(v[k] == ' ' && v[k + 1] == ' ') && v[k] != '\t');
        }
        n_lines++;
        start = i + 1;
    }
    FUZZ_CHECK(n_lines == n_names);
done:
    kvs_buf_free(&lines);
    kvs_buf_free(&names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvs_header all[MAX_HEADERS], valid[MAX_HEADERS];
    size_t n_all = 0, n_valid = 0;
    fuzz_cursor c = {data, size};
    const char *line;
    size_t len;

    while (n_all < MAX_HEADERS && fuzz_next(&c, '\n', &line, &len)) {
        const char *colon = memchr(line, ':', len);
        kvs_header h;
        int name_ok = 1, value_ok = 1;
        h.name = line;
        h.name_len = colon ? (size_t)(colon - line) : len;
        h.value = colon ? colon + 1 : line + len;
        h.value_len = colon ? len - h.name_len - 1 : 0;

        /* the checks agree with their definitions */
        name_ok = h.name_len > 0;
        for (size_t i = 0; i < h.name_len; i++)
            name_ok = name_ok && tchar((unsigned char)h.name[i]);
        for (size_t i = 0; i < h.value_len; i++)
            value_ok = value_ok && h.value[i] != '\r' && h.value[i] != '\n' && h.value[i] != '\0';
        FUZZ_CHECK(kvs_header_name_ok(h.name, h.name_len) == name_ok);
        FUZZ_CHECK(kvs_header_value_ok(h.value, h.value_len) == value_ok);

        all[n_all++] = h;
        if (name_ok && value_ok)
            valid[n_valid++] = h;
    }
    canonicalize(all, n_all, 0); /* any bytes: must not misbehave */
    canonicalize(valid, n_valid, 1);
    return 0;
}
