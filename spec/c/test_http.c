/* Unit test for src/http.c: the header-line parser, then real exchanges with
 * a small blocking HTTP/1.1 server that runs in a forked child on an
 * ephemeral port of 127.0.0.1. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

static int n_pass, n_fail, n_test;

static void check(int cond, const char *name)
{
    n_test++;
    if (cond) {
        n_pass++;
        printf("ok %d - %s\n", n_test, name);
    } else {
        n_fail++;
        printf("not ok %d - %s\n", n_test, name);
    }
    fflush(stdout);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Length-aware substring search (haystacks may hold NUL bytes). */
static int contains(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle), i;
    if (n > hay_len)
        return 0;
    for (i = 0; i + n <= hay_len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

static int count_of(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle), i;
    int k = 0;
    for (i = 0; n <= hay_len && i + n <= hay_len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            k++;
    return k;
}

/* ---- kvs_http_parse_header_line ---- */

static int parses(const char *line, size_t len, const char *want_name, const char *want_value)
{
    const char *name = NULL, *value = NULL;
    size_t nl = 0, vl = 0;
    if (kvs_http_parse_header_line(line, len, &name, &nl, &value, &vl) != 0)
        return 0;
    return nl == strlen(want_name) && memcmp(name, want_name, nl) == 0 &&
           vl == strlen(want_value) && memcmp(value, want_value, vl) == 0;
}

static int rejects(const char *line, size_t len)
{
    const char *name, *value;
    size_t nl, vl;
    return kvs_http_parse_header_line(line, len, &name, &nl, &value, &vl) == -1;
}

#define S(lit) lit, sizeof(lit) - 1

static void test_parse(void)
{
    check(parses(S("Content-Type: application/json"), "Content-Type", "application/json"),
          "parse: normal line");
    check(parses(S("X-A: \t v a l \t "), "X-A", "v a l"), "parse: value trimmed both ends, inner blanks kept");
    check(parses(S("Host:example.com:443"), "Host", "example.com:443"),
          "parse: split at the first colon, no blank after it");
    check(parses(S("X-Empty:"), "X-Empty", ""), "parse: empty value");
    check(parses(S("X-Empty: \t "), "X-Empty", ""), "parse: blank-only value is empty");
    check(parses(S("!#$%&'*+-.^_`|~09azAZ: v"), "!#$%&'*+-.^_`|~09azAZ", "v"),
          "parse: every tchar accepted in a name");
    check(rejects(S("NoColonHere")), "parse: no colon");
    check(rejects(S(": value")), "parse: empty name");
    check(rejects(S("")), "parse: empty line");
    check(rejects(S("Bad Name: v")), "parse: space inside name");
    check(rejects(S("Name : v")), "parse: space before colon");
    check(rejects(S(" Name: v")), "parse: leading blank (folded line)");
    check(rejects(S("Na(me: v")), "parse: separator in name");
    check(rejects(S("Na\0me: v")), "parse: NUL inside name");
    check(rejects(S("Name: a\0b")), "parse: NUL inside value");
    check(rejects(S("\0: v")), "parse: NUL as the name");
    check(rejects(S("Name: a\rb")), "parse: CR inside value");
    check(rejects(NULL, 0), "parse: NULL line");
    /* Bytes past `len` are never looked at. */
    check(parses("X: yz", 2, "X", ""), "parse: honours len, not the terminator");
    check(rejects("Xy: z", 1), "parse: colon beyond len is not seen");
    {
        /* Every one-byte name: exactly the tchars are accepted. */
        int all = 1;
        for (int c = 0; c < 256; c++) {
            char line[3] = {(char)c, ':', 'v'};
            const char *name, *value;
            size_t nl, vl;
            int rc = kvs_http_parse_header_line(line, 3, &name, &nl, &value, &vl);
            int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
            if ((rc == 0) != want)
                all = 0;
        }
        check(all, "parse: one-byte names, all 256 values");
    }
    {
        /* Random bytes: results always point inside the line. */
        unsigned seed = 12345;
        int sane = 1;
        for (int round = 0; round < 20000; round++) {
            char line[64];
            size_t len = (size_t)(round % 64), nl, vl;
            const char *name, *value;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                line[i] = (char)(seed >> 16);
                if ((seed >> 8) % 7 == 0)
                    line[i] = ':';
            }
            if (kvs_http_parse_header_line(line, len, &name, &nl, &value, &vl) == 0) {
                if (name != line || nl == 0 || nl >= len || line[nl] != ':' || value < line + nl + 1 ||
                    value + vl > line + len || memchr(value, 0, vl) != NULL ||
                    (vl && (value[0] == ' ' || value[vl - 1] == ' ')))
                    sane = 0;
            }
        }
        check(sane, "parse: 20000 random lines stay in bounds");
    }
}

/* ---- the test server ---- */

static int send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

/* Reads one request (head and Content-Length body) into buf; returns its
 * total length, 0 at end of connection, -1 on error. *head_len gets the
 * length of the head including the blank line. Leftover bytes are not
 * expected: the client sends one request at a time. */
static long read_request(int fd, char *buf, size_t cap, size_t *head_len)
{
    size_t len = 0, need = 0;
    char *end = NULL;
    for (;;) {
        ssize_t r;
        if (!end && len >= 4) {
            buf[len] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end) {
                const char *cl;
                unsigned long body = 0;
                *head_len = (size_t)(end - buf) + 4;
                for (cl = buf; (cl = strchr(cl, '\n')) != NULL && cl < end; cl++) {
                    if (strncasecmp(cl + 1, "Content-Length:", 15) == 0)
                        body = strtoul(cl + 16, NULL, 10);
                }
                need = *head_len + body;
            }
        }
        if (end && len >= need)
            return (long)len;
        if (len + 1 >= cap)
            return -1;
        r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && len == 0 ? 0 : -1;
        len += (size_t)r;
    }
}

static void respond(int fd, const char *req, size_t req_len, size_t head_len, int accepts,
                    int *close_after)
{
    char head[512];
    int is_head = strncmp(req, "HEAD ", 5) == 0;
    const char *path = strchr(req, ' ');
    path = path ? path + 1 : "";

    if (strncmp(path, "/echo ", 6) == 0) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padded:   spaced out  \r\n"
                 "Content-Length: %zu\r\n\r\n",
                 req_len);
        if (send_str(fd, head) == 0 && !is_head)
            send_all(fd, req, req_len);
    } else if (strncmp(path, "/echohead ", 10) == 0) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", head_len);
        if (send_str(fd, head) == 0)
            send_all(fd, req, head_len);
    } else if (strncmp(path, "/count ", 7) == 0) {
        char body[32];
        snprintf(body, sizeof body, "%d", accepts);
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        send_str(fd, head);
    } else if (strncmp(path, "/continue ", 10) == 0) {
        send_str(fd, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok");
    } else if (strncmp(path, "/nul ", 5) == 0) {
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\na\0b\0c";
        send_all(fd, answer, sizeof answer - 1);
    } else if (strncmp(path, "/truncated ", 11) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        *close_after = 1;
    } else if (strncmp(path, "/exact ", 7) == 0) {
        static char body[1000];
        memset(body, 'x', sizeof body);
        if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n") == 0 && !is_head)
            send_all(fd, body, sizeof body);
    } else if (strncmp(path, "/big ", 5) == 0) {
        static char body[200000];
        memset(body, 'y', sizeof body);
        if (send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n") == 0)
            send_all(fd, body, sizeof body);
    } else if (strncmp(path, "/announce ", 10) == 0) {
        /* Announces a large body, then sends none of it. */
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    } else if (strncmp(path, "/chunked ", 9) == 0) {
        char chunk[1000 + 16];
        int i;
        memcpy(chunk, "3E8\r\n", 5);
        memset(chunk + 5, 'z', 1000);
        memcpy(chunk + 1005, "\r\n", 2);
        if (send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") != 0)
            return;
        for (i = 0; i < 200; i++)
            if (send_all(fd, chunk, 1007) != 0)
                return;
        send_str(fd, "0\r\n\r\n");
    } else if (strncmp(path, "/hugeheaders ", 13) == 0) {
        char line[1100];
        int i;
        if (send_str(fd, "HTTP/1.1 200 OK\r\n") != 0)
            return;
        memset(line, 'h', sizeof line);
        for (i = 0; i < 80; i++) {
            int n = snprintf(line, sizeof line, "X-Filler-%d: ", i);
            memset(line + n, 'h', 1000);
            memcpy(line + n + 1000, "\r\n", 2);
            if (send_all(fd, line, (size_t)n + 1002) != 0)
                return;
        }
        send_str(fd, "Content-Length: 0\r\n\r\n");
    } else if (strncmp(path, "/stall ", 7) == 0) {
        /* Never answers; the next read sees the client give up. */
    } else {
        send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static void serve(int lfd)
{
    static char buf[4 * 1024 * 1024];
    int accepts = 0;
    signal(SIGPIPE, SIG_IGN);
    alarm(60); /* never outlive a stuck test */
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        accepts++;
        for (;;) {
            size_t head_len = 0;
            int close_after = 0;
            long n = read_request(fd, buf, sizeof buf, &head_len);
            if (n <= 0)
                break;
            respond(fd, buf, (size_t)n, head_len, accepts, &close_after);
            if (close_after)
                break;
        }
        close(fd);
    }
}

static int listen_local(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- exchanges ---- */

static int port;
static char url[128];
static char err[256];

static void init_req(kvs_http_request *req, const char *method, const char *path)
{
    memset(req, 0, sizeof *req);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    req->method = method;
    req->url = url;
    req->timeout_ms = 5000;
    req->connect_timeout_ms = 2000;
    req->verify_tls = 1;
    req->max_body = 1024 * 1024;
}

static int one_line(const char *s)
{
    return *s && strchr(s, '\n') == NULL && strchr(s, '\r') == NULL;
}

static void test_exchanges(void)
{
    kvs_http *h = kvs_http_new();
    kvs_http_response resp;
    kvs_http_request req;
    kvs_http_status st;
    static const char body[] = "{\"a\":1}\0tail";
    kvs_http_header hdrs[] = {
        {"Content-Type", "application/json"},
        {"X-Amz-Date", "20150830T123600Z"},
        {"X-Empty", ""},
        {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"},
    };
    double t0, dt;

    memset(&resp, 0, sizeof resp);
    check(h != NULL, "kvs_http_new");
    if (!h)
        return;

    /* 1. Keep-alive: three exchanges, one connection. */
    init_req(&req, "GET", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 200, "GET /echo: 200");
    check(contains(resp.body.data, resp.body.len, "GET /echo HTTP/1.1\r\n"),
          "GET /echo: request line as sent, HTTP/1.1");
    check(!contains(resp.body.data, resp.body.len, "Accept") &&
              !contains(resp.body.data, resp.body.len, "Expect") &&
              !contains(resp.body.data, resp.body.len, "Content-Type") &&
              !contains(resp.body.data, resp.body.len, "User-Agent"),
          "GET: no Accept, Expect, Content-Type or User-Agent added");
    check(resp.headers.len > 0 &&
              contains(resp.headers.data, resp.headers.len, "Content-Type: text/plain\r\n") &&
              !contains(resp.headers.data, resp.headers.len, "HTTP/1.1") &&
              resp.headers.len >= 4 &&
              memcmp(resp.headers.data + resp.headers.len - 2, "\r\n", 2) == 0 &&
              !contains(resp.headers.data, resp.headers.len, "\r\n\r\n"),
          "GET: header block without status line or blank line");
    {
        /* The lines parse, and the padded value trims. */
        const char *p = resp.headers.data, *end = p + resp.headers.len;
        int all = 1, padded = 0;
        while (p < end) {
            const char *eol = strstr(p, "\r\n"), *name, *value;
            size_t nl, vl;
            if (!eol || kvs_http_parse_header_line(p, (size_t)(eol - p), &name, &nl, &value, &vl) != 0) {
                all = 0;
                break;
            }
            if (nl == 8 && memcmp(name, "X-Padded", 8) == 0)
                padded = vl == 10 && memcmp(value, "spaced out", 10) == 0;
            p = eol + 2;
        }
        check(all && padded, "GET: every header line parses; value trimmed");
    }

    init_req(&req, "POST", "/echo");
    req.headers = hdrs;
    req.n_headers = sizeof hdrs / sizeof hdrs[0];
    req.body = body;
    req.body_len = sizeof body - 1;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 200, "POST /echo: 200");
    check(contains(resp.body.data, resp.body.len, "POST /echo HTTP/1.1\r\n") &&
              contains(resp.body.data, resp.body.len, "\r\nContent-Type: application/json\r\n") &&
              count_of(resp.body.data, resp.body.len, "Content-Type") == 1 &&
              contains(resp.body.data, resp.body.len, "\r\nX-Amz-Date: 20150830T123600Z\r\n") &&
              contains(resp.body.data, resp.body.len, "\r\nAuthorization: AWS4-HMAC-SHA256 "),
          "POST: caller headers sent as given");
    check(contains(resp.body.data, resp.body.len, "\r\nX-Empty:\r\n"), "POST: empty-valued header sent");
    check(!contains(resp.body.data, resp.body.len, "Expect") &&
              !contains(resp.body.data, resp.body.len, "Accept"),
          "POST: no Expect or Accept");
    check(contains(resp.body.data, resp.body.len, "\r\nContent-Length: 12\r\n") && resp.body.len > 12 &&
              memcmp(resp.body.data + resp.body.len - 12, body, 12) == 0,
          "POST: body with a NUL byte sent whole");

    init_req(&req, "GET", "/count");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.body.len == 1 && resp.body.data[0] == '1',
          "three sequential exchanges used one TCP connection");

    /* 2. Nothing of a previous exchange leaks into the next. */
    init_req(&req, "GET", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && contains(resp.body.data, resp.body.len, "GET /echo HTTP/1.1\r\n") &&
              !contains(resp.body.data, resp.body.len, "Content-Length") &&
              !contains(resp.body.data, resp.body.len, "X-Amz-Date") &&
              !contains(resp.body.data, resp.body.len, "tail"),
          "GET after POST: no method, header or body carried over");

    init_req(&req, "DELETE", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && contains(resp.body.data, resp.body.len, "DELETE /echo HTTP/1.1\r\n"),
          "DELETE: custom method");
    init_req(&req, "PUT", "/echo");
    req.body = "x";
    req.body_len = 1;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && contains(resp.body.data, resp.body.len, "PUT /echo HTTP/1.1\r\n") &&
              contains(resp.body.data, resp.body.len, "Content-Length: 1\r\n"),
          "PUT with a body");
    init_req(&req, "POST", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && contains(resp.body.data, resp.body.len, "POST /echo HTTP/1.1\r\n") &&
              contains(resp.body.data, resp.body.len, "Content-Length: 0\r\n") &&
              !contains(resp.body.data, resp.body.len, "Content-Type"),
          "POST without a body: Content-Length 0, no Content-Type added");

    {
        /* libcurl would ask for 100-continue before a body this large. */
        size_t big_len = 1536 * 1024;
        char *big = malloc(big_len);
        if (big)
            memset(big, 'b', big_len);
        init_req(&req, "POST", "/echohead");
        req.body = big;
        req.body_len = big_len;
        t0 = now();
        st = kvs_http_perform(h, &req, &resp, err, sizeof err);
        dt = now() - t0;
        check(big && st == KVS_HTTP_OK && resp.status == 200 &&
                  contains(resp.body.data, resp.body.len, "Content-Length: 1572864\r\n") &&
                  !contains(resp.body.data, resp.body.len, "Expect") && dt < 0.9,
              "1.5 MiB POST: no Expect: 100-continue, no wait");
        free(big);
    }

    init_req(&req, "HEAD", "/exact");
    req.max_body = 10;
    t0 = now();
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 200 && resp.body.len == 0 &&
              contains(resp.headers.data, resp.headers.len, "Content-Length: 1000") && now() - t0 < 1,
          "HEAD: announced length over the cap is not an error, nothing read");

    /* 3. Interim answers: only the final header block is kept. */
    init_req(&req, "GET", "/continue");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 201 && resp.body.len == 2 &&
              memcmp(resp.body.data, "ok", 2) == 0,
          "100 Continue then 201: status and body of the final answer");
    check(contains(resp.headers.data, resp.headers.len, "X-Final: yes\r\n") &&
              !contains(resp.headers.data, resp.headers.len, "X-Interim"),
          "100 Continue then 201: only the final header block");

    init_req(&req, "GET", "/nul");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.body.len == 5 && memcmp(resp.body.data, "a\0b\0c", 5) == 0,
          "response body with NUL bytes");

    init_req(&req, "GET", "/nowhere");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 404 && resp.body.len == 0, "404 is an answer, not an error");

    /* 4. Truncated body. */
    init_req(&req, "GET", "/truncated");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_NETWORK && one_line(err) && strstr(err, "truncated") != NULL,
          "body shorter than Content-Length: NETWORK");
    printf("# %s\n", err);

    /* 5. Body cap. */
    init_req(&req, "GET", "/exact");
    req.max_body = 1000;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.body.len == 1000, "body exactly at the cap: OK");

    init_req(&req, "GET", "/exact");
    req.max_body = 999;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_TOO_LARGE && resp.body.len == 0 && one_line(err),
          "Content-Length one over the cap: TOO_LARGE before any body");

    init_req(&req, "GET", "/big");
    req.max_body = 1000;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_TOO_LARGE && resp.body.len == 0, "large Content-Length: TOO_LARGE");
    printf("# %s\n", err);

    init_req(&req, "GET", "/announce");
    req.max_body = 1000;
    t0 = now();
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_TOO_LARGE && now() - t0 < 1,
          "Content-Length over the cap refused from the headers alone");

    init_req(&req, "GET", "/chunked");
    req.max_body = 5000;
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_TOO_LARGE && resp.body.len <= 5000, "chunked body over the cap: TOO_LARGE");

    init_req(&req, "GET", "/chunked");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.body.len == 200000, "chunked body under the cap: whole");

    init_req(&req, "GET", "/hugeheaders");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_NETWORK && strstr(err, "response headers too large") != NULL,
          "80 KiB of response headers: NETWORK");

    init_req(&req, "GET", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_OK && resp.status == 200, "the handle works again after aborted exchanges");

    /* 6. Bad input. */
    init_req(&req, "GET", "/");
    req.url = "ftp://127.0.0.1/x";
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_INTERNAL && one_line(err), "ftp URL refused: INTERNAL");
    init_req(&req, "GET", "/");
    req.url = "http://[::1";
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_INTERNAL && one_line(err), "malformed URL: INTERNAL");

    init_req(&req, "GE T", "/echo");
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    check(st == KVS_HTTP_INTERNAL && one_line(err), "method that is not a token: INTERNAL");

    /* 7. Timeout: the server reads the request and never answers. */
    init_req(&req, "GET", "/stall");
    req.timeout_ms = 300;
    t0 = now();
    st = kvs_http_perform(h, &req, &resp, err, sizeof err);
    dt = now() - t0;
    check(st == KVS_HTTP_TIMEOUT && dt >= 0.29 && dt < 0.8 && one_line(err),
          "stalled server: TIMEOUT within timeout + 0.5 s");
    printf("# %.3f s: %s\n", dt, err);

    /* 8. Connection refused: the port of a listening socket just closed. */
    {
        int closed_port = 0, fd = listen_local(&closed_port);
        close(fd);
        init_req(&req, "GET", "/");
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port);
        st = kvs_http_perform(h, &req, &resp, err, sizeof err);
        check(fd >= 0 && st == KVS_HTTP_NETWORK && strncmp(err, "connection refused (", 20) == 0 &&
                  one_line(err),
              "connection refused: NETWORK");
        printf("# %s\n", err);
    }

    /* 9. A short err buffer is still terminated. */
    {
        char small[8];
        memset(small, 'Q', sizeof small);
        init_req(&req, "GET", "/truncated");
        st = kvs_http_perform(h, &req, &resp, small, sizeof small);
        check(st == KVS_HTTP_NETWORK && memchr(small, '\0', sizeof small) != NULL,
              "short err buffer: truncated and terminated");
    }

    kvs_http_response_free(&resp);
    check(resp.body.data == NULL && resp.headers.data == NULL, "kvs_http_response_free frees both buffers");
    kvs_http_response_free(&resp);
    kvs_http_free(h);
    kvs_http_free(NULL);
    check(1, "kvs_http_free(NULL) is harmless");
}

int main(void)
{
    int lfd, status = 0;
    pid_t pid;
    static const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                    "all_proxy", "ALL_PROXY"};

    /* Only the local server is ever contacted. */
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        unsetenv(proxies[i]);

    test_parse();

    lfd = listen_local(&port);
    if (lfd < 0) {
        perror("listen");
        return 2;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        serve(lfd);
        _exit(0);
    }
    close(lfd);

    check(kvs_http_global_init() == 0 && kvs_http_global_init() == 0, "kvs_http_global_init, twice");
    test_exchanges();

    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    curl_global_cleanup();

    printf("test_http: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
