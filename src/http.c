/* HTTP over libcurl. Each kvs_http owns one easy handle, so sequential
 * requests to one host share a single keep-alive connection, DNS cache and
 * TLS session cache. The options that never change are set once; an
 * exchange whose method, TLS settings or body presence differ from the
 * previous one starts with curl_easy_reset, so nothing of an earlier
 * exchange's method, body or CA file carries over. Knows nothing of Lua. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "ascii.h"

/* The whole response head (status lines and header lines of every block,
 * interim 1xx blocks included) may not exceed this. */
#define MAX_HEADER_BYTES (64 * 1024)

/* Why one of our callbacks stopped the transfer. */
enum {
    STOP_NONE = 0,
    STOP_TOO_LARGE,
    STOP_HEADERS_TOO_LARGE,
    STOP_NO_MEMORY
};

/* Which method options an exchange sets. */
enum {
    MODE_GET = 0, /* nothing: libcurl's default */
    MODE_POST,    /* POST with the body, plus CUSTOMREQUEST unless POST */
    MODE_HEAD,    /* NOBODY */
    MODE_CUSTOM   /* CUSTOMREQUEST alone */
};

struct kvs_http {
    CURL *curl;
    kvs_buf lines; /* request header lines, NUL-separated */
    kvs_buf nodes; /* curl_slist nodes pointing into `lines` */
    char errbuf[CURL_ERROR_SIZE];
    /* What the handle is set up for; `ready` is 0 when the next exchange
     * must reset it. */
    int ready;
    int mode;
    int verify_tls;
    kvs_buf method;  /* as given */
    kvs_buf ca_file; /* as given; has_ca says whether one was */
    int has_ca;
    /* State of the exchange in progress, read by the callbacks. */
    kvs_http_response *resp;
    size_t max_body;
    size_t header_bytes;
    long block_status; /* status of the header block being received */
    int in_block;      /* between a status line and its blank line */
    int no_body;       /* HEAD: a Content-Length announces nothing to read */
    int stop;          /* STOP_* */
};

/* libcurl wants curl_global_init once, before any other call and before
 * other threads start; this flag is the module's one piece of process-global
 * state, and like curl_global_init itself it is not guarded against
 * concurrent first calls. */
static int global_ready;

int kvs_http_global_init(void)
{
    if (global_ready)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    global_ready = 1;
    return 0;
}

kvs_http *kvs_http_new(void)
{
    kvs_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    return h;
}

void kvs_http_free(kvs_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    kvs_buf_free(&h->lines);
    kvs_buf_free(&h->nodes);
    kvs_buf_free(&h->method);
    kvs_buf_free(&h->ca_file);
    free(h);
}

void kvs_http_response_free(kvs_http_response *resp)
{
    if (!resp)
        return;
    kvs_buf_free(&resp->headers);
    kvs_buf_free(&resp->body);
    resp->status = 0;
}

/* ---- header lines ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int kvs_http_parse_header_line(const char *line, size_t len,
                               const char **name, size_t *name_len,
                               const char **value, size_t *value_len)
{
    const char *colon, *v, *end;
    size_t i, n;
    if (!line)
        return -1;
    colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    n = (size_t)(colon - line);
    for (i = 0; i < n; i++)
        if (!kvs_is_tchar((unsigned char)line[i]))
            return -1;
    v = colon + 1;
    end = line + len;
    /* A value never holds NUL, CR or LF; a line that does is not a header. */
    for (const char *p = v; p < end; p++)
        if (*p == '\0' || *p == '\r' || *p == '\n')
            return -1;
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    if (name)
        *name = line;
    if (name_len)
        *name_len = n;
    if (value)
        *value = v;
    if (value_len)
        *value_len = (size_t)(end - v);
    return 0;
}

static int name_is(const char *s, size_t len, const char *lower)
{
    return kvs_names_equal_ci(s, len, lower, strlen(lower));
}

/* Decimal Content-Length; -1 when it is not a plain number (libcurl then
 * judges the response itself). */
static long long parse_length(const char *s, size_t len)
{
    long long v = 0;
    size_t i;
    if (len == 0)
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (0x7fffffffffffffffLL - 9) / 10)
            return 0x7fffffffffffffffLL;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static long parse_status(const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    long v = 0;
    size_t i, k;
    if (!sp)
        return 0;
    i = (size_t)(sp - line) + 1;
    for (k = 0; k < 3 && i < len && line[i] >= '0' && line[i] <= '9'; k++, i++)
        v = v * 10 + (line[i] - '0');
    return k == 3 ? v : 0;
}

/* ---- callbacks ---- */

/* Called once per header line, the status line and the blank line included,
 * for every block (1xx interim answers, then the final one, then trailers). */
static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
    kvs_http *h = ud;
    size_t n = size * nitems, len = n;
    const char *name, *value;
    size_t name_len, value_len;

    h->header_bytes += n;
    if (h->header_bytes > MAX_HEADER_BYTES) {
        h->stop = STOP_HEADERS_TOO_LARGE;
        return 0;
    }
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new block begins: only the last one is kept. */
        kvs_buf_clear(&h->resp->headers);
        h->block_status = parse_status(data, len);
        h->in_block = 1;
        return n;
    }
    if (!h->in_block)
        return n; /* trailers after the body: not part of the header block */
    if (len == 0) {
        h->in_block = 0;
        return n;
    }
    if (kvs_buf_append(&h->resp->headers, data, len) != 0 ||
        kvs_buf_append(&h->resp->headers, "\r\n", 2) != 0) {
        h->stop = STOP_NO_MEMORY;
        return 0;
    }
    /* An announced body over the cap is refused before any of it is read. */
    if (h->block_status >= 200 && !h->no_body && h->block_status != 204 &&
        h->block_status != 304 &&
        kvs_http_parse_header_line(data, len, &name, &name_len, &value, &value_len) == 0 &&
        name_is(name, name_len, "content-length")) {
        long long cl = parse_length(value, value_len);
        if (cl >= 0 && (unsigned long long)cl > (unsigned long long)h->max_body) {
            h->stop = STOP_TOO_LARGE;
            return 0;
        }
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    kvs_http *h = ud;
    kvs_buf *body = &h->resp->body;
    size_t n = size * nmemb;
    /* body->len never exceeds max_body, so the subtraction cannot wrap. */
    if (n > h->max_body - body->len) {
        h->stop = STOP_TOO_LARGE;
        return 0; /* aborts the transfer: nothing more is read */
    }
    if (kvs_buf_append(body, data, n) != 0) {
        h->stop = STOP_NO_MEMORY;
        return 0;
    }
    return n;
}

/* ---- one exchange ---- */

static void set_err(char *err, size_t err_len, const char *what, const char *detail)
{
    size_t i;
    if (!err || err_len == 0)
        return;
    if (detail && *detail)
        snprintf(err, err_len, "%s (%s)", what, detail);
    else
        snprintf(err, err_len, "%s", what);
    /* One line, printable. */
    for (i = 0; err[i]; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            err[i] = ' ';
}

/* libcurl's own message, trailing blanks and newline removed. */
static const char *curl_detail(kvs_http *h, CURLcode cc)
{
    size_t n = strlen(h->errbuf);
    while (n && (h->errbuf[n - 1] == '\n' || h->errbuf[n - 1] == '\r' ||
                 h->errbuf[n - 1] == ' '))
        h->errbuf[--n] = '\0';
    return n ? h->errbuf : curl_easy_strerror(cc);
}

/* Whether the request reached the server: a failure after that concerns
 * the response, never the URL or our memory. */
static int request_sent(kvs_http *h)
{
    long sent = 0;
    return curl_easy_getinfo(h->curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0;
}

static kvs_http_status map_result(kvs_http *h, CURLcode cc, char *err, size_t err_len)
{
    const char *what;
    kvs_http_status st = KVS_HTTP_NETWORK;
    long os_errno = 0;

    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        st = KVS_HTTP_TIMEOUT;
        what = "timed out";
        break;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
        what = os_errno == ECONNREFUSED ? "connection refused" : "could not connect";
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        what = "could not resolve host";
        break;
    case CURLE_COULDNT_RESOLVE_PROXY:
        what = "could not resolve proxy";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        what = "TLS certificate verification failed";
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        what = "TLS error";
        break;
    case CURLE_SEND_ERROR:
        what = "send failed";
        break;
    case CURLE_RECV_ERROR:
        what = "receive failed";
        break;
    case CURLE_PARTIAL_FILE:
        what = "response truncated";
        break;
    case CURLE_GOT_NOTHING:
        what = "empty reply from server";
        break;
    case CURLE_WEIRD_SERVER_REPLY:
        what = "malformed response";
        break;
    case CURLE_OUT_OF_MEMORY:
        /* libcurl also reports a response header line over its own limit
         * (CURL_MAX_HTTP_HEADER) as out of memory: once the request has
         * gone out, that is the server's fault, like our own header cap. */
        if (request_sent(h)) {
            what = "response headers too large";
            break;
        }
        st = KVS_HTTP_INTERNAL;
        what = "out of memory";
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* Also an answer that is not HTTP at all (libcurl refuses HTTP/0.9). */
        if (request_sent(h)) {
            what = "malformed response";
            break;
        }
        /* fall through */
    case CURLE_URL_MALFORMAT:
        st = KVS_HTTP_INTERNAL;
        what = "bad url";
        break;
    case CURLE_FAILED_INIT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
        st = KVS_HTTP_INTERNAL;
        what = "internal error";
        break;
    default:
        what = "transfer failed";
        break;
    }
    set_err(err, err_len, what, curl_detail(h, cc));
    return st;
}

/* Appends one request line, NUL-terminated, formatted as libcurl wants it:
 * "Name: value", or "Name;" to send a header with an empty value. */
static int add_header(kvs_http *h, const char *name, const char *value)
{
    const char *v = value ? value : "";
    while (is_blank(*v))
        v++;
    if (kvs_buf_puts(&h->lines, name) != 0 ||
        (*v ? kvs_buf_puts(&h->lines, ": ") != 0 || kvs_buf_puts(&h->lines, v) != 0
            : kvs_buf_putc(&h->lines, ';') != 0))
        return -1;
    return kvs_buf_putc(&h->lines, '\0');
}

/* "Name:" with nothing after it removes a header libcurl would add itself. */
static int append_raw(kvs_http *h, const char *line)
{
    return kvs_buf_append(&h->lines, line, strlen(line) + 1);
}

/* Links the lines into a curl_slist held in our own memory: libcurl only
 * reads the list, and this spares a malloc and free per line per call. */
static struct curl_slist *link_lines(kvs_http *h)
{
    size_t n = 0, i, off;
    struct curl_slist *nodes;
    for (off = 0; off < h->lines.len; off += strlen(h->lines.data + off) + 1)
        n++;
    kvs_buf_clear(&h->nodes);
    if (n == 0 || kvs_buf_reserve(&h->nodes, n * sizeof *nodes) != 0)
        return NULL;
    nodes = (struct curl_slist *)(void *)h->nodes.data;
    for (i = 0, off = 0; i < n; i++, off += strlen(h->lines.data + off) + 1) {
        nodes[i].data = h->lines.data + off;
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
    }
    return nodes;
}

static int header_name_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!kvs_is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

static int header_value_ok(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

/* The handle keeps pointers to the header list and the caller's body; drop
 * them so that nothing of this exchange outlives it inside the handle.
 * POSTFIELDS is cleared only where it was set: setting it, even to NULL,
 * turns the handle to POST. */
static void forget_exchange(kvs_http *h)
{
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    if (h->mode == MODE_POST)
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, (char *)NULL);
    h->resp = NULL;
}

static int same_string(const kvs_buf *b, const char *s)
{
    return b->data && strcmp(b->data, s) == 0;
}

static int remember(kvs_buf *b, const char *s)
{
    kvs_buf_clear(b);
    return kvs_buf_puts(b, s);
}

#define SETOPT(opt, val)                                      \
    do {                                                      \
        if ((cc = curl_easy_setopt(c, opt, val)) != CURLE_OK) \
            goto setopt_failed;                               \
    } while (0)

kvs_http_status kvs_http_perform(kvs_http *h, const kvs_http_request *req,
                                 kvs_http_response *resp, char *err, size_t err_len)
{
    CURL *c;
    CURLcode cc;
    struct curl_slist *list;
    const char *method;
    int has_accept = 0, has_expect = 0, has_type = 0, mode;
    int verify = req && req->verify_tls ? 1 : 0;
    size_t i;

    if (err && err_len)
        err[0] = '\0';
    if (!h || !h->curl || !req || !resp) {
        set_err(err, err_len, "internal error", "missing argument");
        return KVS_HTTP_INTERNAL;
    }
    resp->status = 0;
    kvs_buf_clear(&resp->headers);
    kvs_buf_clear(&resp->body);
    if (!req->url) {
        set_err(err, err_len, "bad url", "none given");
        return KVS_HTTP_INTERNAL;
    }
    method = req->method ? req->method : "GET";
    if (!header_name_ok(method)) { /* a method is a token, like a header name */
        set_err(err, err_len, "internal error", "invalid method");
        return KVS_HTTP_INTERNAL;
    }
    if (req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0)
        mode = MODE_POST;
    else if (strcmp(method, "HEAD") == 0)
        mode = MODE_HEAD;
    else if (strcmp(method, "GET") == 0)
        mode = MODE_GET;
    else
        mode = MODE_CUSTOM;

    /* Request headers; libcurl's defaults for Accept, Expect and Content-Type
     * are switched off unless the caller sends those headers. */
    kvs_buf_clear(&h->lines);
    for (i = 0; i < req->n_headers; i++) {
        const kvs_http_header *hd = &req->headers[i];
        if (!header_name_ok(hd->name) || !header_value_ok(hd->value)) {
            set_err(err, err_len, "internal error", "invalid request header");
            return KVS_HTTP_INTERNAL;
        }
        size_t nl = strlen(hd->name);
        has_accept |= name_is(hd->name, nl, "accept");
        has_expect |= name_is(hd->name, nl, "expect");
        has_type |= name_is(hd->name, nl, "content-type");
        if (add_header(h, hd->name, hd->value) != 0)
            goto no_memory;
    }
    if ((!has_accept && append_raw(h, "Accept:") != 0) ||
        (!has_expect && append_raw(h, "Expect:") != 0) ||
        (!has_type && append_raw(h, "Content-Type:") != 0) || (list = link_lines(h)) == NULL)
        goto no_memory;

    c = h->curl;
    h->errbuf[0] = '\0';
    h->resp = resp;
    h->max_body = req->max_body;
    h->header_bytes = 0;
    h->block_status = 0;
    h->in_block = 0;
    h->no_body = mode == MODE_HEAD;
    h->stop = STOP_NONE;

    if (!h->ready || h->mode != mode || h->verify_tls != verify || !same_string(&h->method, method) ||
        h->has_ca != (req->ca_file != NULL) || (req->ca_file && !same_string(&h->ca_file, req->ca_file))) {
        /* Something sticky changed: start from libcurl's defaults. */
        curl_easy_reset(c);
        h->ready = 0;
        h->mode = mode;
        SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
        SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
        SETOPT(CURLOPT_NOSIGNAL, 1L);
        SETOPT(CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
        if (req->ca_file)
            SETOPT(CURLOPT_CAINFO, req->ca_file);
        SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
        SETOPT(CURLOPT_HEADERFUNCTION, on_header);
        SETOPT(CURLOPT_HEADERDATA, h);
        SETOPT(CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(CURLOPT_WRITEDATA, h);
        if (mode == MODE_POST) {
            SETOPT(CURLOPT_POST, 1L);
            if (strcmp(method, "POST") != 0)
                SETOPT(CURLOPT_CUSTOMREQUEST, method);
        } else if (mode == MODE_HEAD) {
            SETOPT(CURLOPT_NOBODY, 1L);
        } else if (mode == MODE_CUSTOM) {
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
        }
        if (remember(&h->method, method) != 0 ||
            (req->ca_file && remember(&h->ca_file, req->ca_file) != 0))
            goto no_memory;
        h->verify_tls = verify;
        h->has_ca = req->ca_file != NULL;
        h->ready = 1;
    }

    /* What may differ from one exchange to the next. */
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    SETOPT(CURLOPT_HTTPHEADER, list);
    if (mode == MODE_POST) {
        /* The size is given, so the body may hold NUL bytes. */
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }

    cc = curl_easy_perform(c);

    forget_exchange(h);

    switch (h->stop) {
    case STOP_TOO_LARGE: {
        char detail[64];
        snprintf(detail, sizeof detail, "over %zu bytes", req->max_body);
        set_err(err, err_len, "response body too large", detail);
        return KVS_HTTP_TOO_LARGE;
    }
    case STOP_HEADERS_TOO_LARGE:
        set_err(err, err_len, "response headers too large", NULL);
        return KVS_HTTP_NETWORK;
    case STOP_NO_MEMORY:
        set_err(err, err_len, "out of memory", NULL);
        return KVS_HTTP_INTERNAL;
    default:
        break;
    }
    if (cc != CURLE_OK)
        return map_result(h, cc, err, err_len);
    /* libcurl reports success when the connection closes in the middle of
     * the header block (the blank line never came), with whatever status
     * line it saw and an empty body: that answer is truncated. */
    if (h->in_block) {
        set_err(err, err_len, "response truncated", "connection closed in the headers");
        return KVS_HTTP_NETWORK;
    }
    {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        resp->status = code;
    }
    return KVS_HTTP_OK;

setopt_failed:
    forget_exchange(h);
    h->ready = 0;
    set_err(err, err_len, cc == CURLE_OUT_OF_MEMORY ? "out of memory" : "bad option",
            curl_easy_strerror(cc));
    return KVS_HTTP_INTERNAL;

no_memory:
    h->ready = 0;
    h->resp = NULL;
    set_err(err, err_len, "out of memory", NULL);
    return KVS_HTTP_INTERNAL;
}
