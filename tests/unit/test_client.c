/*
 * libtillsync: the request line it writes (escaping, numbers in any locale), the replies it reads
 * and refuses, and its connection rules against a fake daemon on a socket: a lost reply resent
 * once (or not, when told), a connection closed while idle opened again, no reply is a retry.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "client_json.h"

static char *format(const struct tillsync_sale *s)
{
    char *line;
    size_t len;
    assert_int_equal(client_format_sale(s, &line, &len), 0);
    assert_int_equal(strlen(line), len);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    return line;
}

static void format_full_sale(void **state)
{
    (void)state;
    struct tillsync_customer cu = {.email = "jane@example.com",
                                   .phone = "+447700900123",
                                   .first_name = "Jane",
                                   .last_name = "Doe",
                                   .id = "LOYAL-889"};
    struct tillsync_item items[] = {{"A1", "Latte", 2, 375}, {"B2", "Cheese", 0.25, -100}};
    struct tillsync_sale s = {"000123", "2026-04-07T19:45:00+01:00", 12750, "GBP", &cu, items, 2,
                              "kiosk"};
    char *line = format(&s);
    assert_string_equal(
        line,
        "{\"event\":\"sale.completed\",\"txn\":\"000123\",\"at\":\"2026-04-07T19:45:00+01:00\","
        "\"total\":12750,\"currency\":\"GBP\",\"customer\":{\"email\":\"jane@example.com\","
        "\"phone\":\"+447700900123\",\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"id\":"
        "\"LOYAL-889\"},\"items\":[{\"sku\":\"A1\",\"name\":\"Latte\",\"qty\":2,\"unit_"
        "price\":375},{\"sku\":\"B2\",\"name\":\"Cheese\",\"qty\":0.25,\"unit_price\":-100}"
        "],\"source\":\"kiosk\"}\n");
    free(line);
}

/* NULL fields are left out for the daemon to name, never sent as "" or null. */
static void format_leaves_out_null_fields(void **state)
{
    (void)state;
    struct tillsync_customer cu = {.phone = "+447700900123"};
    struct tillsync_item item = {.qty = 1, .unit_price = 5};
    struct tillsync_sale s = {
        .txn = "T1", .total = 0, .customer = &cu, .items = &item, .nitems = 1};
    char *line = format(&s);
    assert_string_equal(line, "{\"event\":\"sale.completed\",\"txn\":\"T1\",\"total\":0,"
                              "\"customer\":{\"phone\":\"+447700900123\"},\"items\":[{\"qty\":1,"
                              "\"unit_price\":5}]}\n");
    free(line);
}

/* Every ASCII byte in a string, and UTF-8, come back the same through a JSON parser. */
static void format_escapes_every_byte(void **state)
{
    (void)state;
    char all[256], utf8[] = "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 \"q\" \\b\\ \x7f";
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    struct tillsync_customer cu = {.first_name = all, .last_name = utf8};
    struct tillsync_sale s = {.txn = "a\"b\\c\n\x01\x1f", .customer = &cu};
    char *line = format(&s);
    assert_non_null(strstr(line, "\"txn\":\"a\\\"b\\\\c\\n\\u0001\\u001f\""));
    assert_non_null(strstr(line, "\xf0\x9f\x98\x80")); /* UTF-8 passes as it is */
    cJSON *o = cJSON_Parse(line);
    assert_non_null(o);
    const cJSON *c = cJSON_GetObjectItem(o, "customer");
    assert_string_equal(cJSON_GetObjectItem(c, "first_name")->valuestring, all);
    assert_string_equal(cJSON_GetObjectItem(c, "last_name")->valuestring, utf8);
    assert_string_equal(cJSON_GetObjectItem(o, "txn")->valuestring, s.txn);
    cJSON_Delete(o);
    free(line);
}

static void format_qty(void **state)
{
    (void)state;
    static const struct {
        double q;
        const char *json;
    } cases[] = {{2, "2"},
                 {0.5, "0.5"},
                 {1.25, "1.25"},
                 {0.3333333333, "0.333333"},
                 {1e9, "1000000000"},
                 {1e10, "10000000000"},
                 {0, "0"},
                 {-1, "0"},
                 {NAN, "0"}};
    /* a POS that set a locale with a decimal comma still sends JSON numbers (checked where the
     * locale is installed; qty is formatted without printf's locale-dependent point anyway) */
    setlocale(LC_NUMERIC, "de_DE.UTF-8");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tillsync_item item = {"S", "N", cases[i].q, 1};
        struct tillsync_sale s = {.txn = "T", .items = &item, .nitems = 1};
        char *line = format(&s), want[64];
        snprintf(want, sizeof want, "\"qty\":%s,", cases[i].json);
        if (!strstr(line, want))
            fail_msg("qty %g: %s", cases[i].q, line);
        free(line);
    }
    setlocale(LC_NUMERIC, "C");
}

static void json_object_becomes_one_line(void **state)
{
    (void)state;
    char *line, err[128];
    size_t len;
    assert_int_equal(client_line_from_json("{\n  \"txn\": \"a\\\"\\\\\",\r\n  \"x\": 1\n}\n", &line,
                                           &len, err, sizeof err),
                     0);
    assert_string_equal(line, "{   \"txn\": \"a\\\"\\\\\",    \"x\": 1 } \n");
    assert_int_equal(len, strlen(line));
    free(line);
    /* a raw line break inside a string would split the request in two */
    assert_int_equal(client_line_from_json("{\"txn\": \"a\\\"\nb\"}", &line, &len, err, sizeof err),
                     -2);
    assert_string_equal(err, "request: a control character inside a string at byte 12");
}

static struct tillsync_result res;

static int parse(const char *reply)
{
    memset(&res, 0x55, sizeof res);
    return client_parse_reply(reply, strlen(reply), &res);
}

static void reply_ok_and_duplicate(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"ok\":true,\"ref\":\"T042:000123\"}"), 0);
    assert_true(res.ok && !res.duplicate && !res.retry);
    assert_string_equal(res.ref, "T042:000123");
    assert_string_equal(res.error, "");
    assert_string_equal(res.field, "");
    assert_int_equal(parse(" { \"duplicate\" : true , \"ref\":\"T:1\", \"ok\": true } "), 0);
    assert_true(res.ok && res.duplicate);
    assert_string_equal(res.ref, "T:1");
    /* keys a later daemon may add are skipped */
    assert_int_equal(parse("{\"ok\":true,\"ref\":\"T:1\",\"seq\":12,\"note\":\"x\\\"}\","
                           "\"n\":null,\"f\":-1.5e3,\"b\":false,\"a_much_longer_key_name\":1}"),
                     0);
    assert_true(res.ok && !res.duplicate);
}

static void reply_errors_name_the_field(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"ok\":false,\"error\":\"items[0].qty: must be a number greater "
                           "than 0\"}"),
                     0);
    assert_true(!res.ok && !res.retry);
    assert_string_equal(res.field, "items[0].qty");
    assert_string_equal(res.error, "items[0].qty: must be a number greater than 0");
    assert_int_equal(parse("{\"ok\":false,\"error\":\"request: not JSON\"}"), 0);
    assert_string_equal(res.field, "request");
    assert_int_equal(parse("{\"ok\":false,\"error\":\"no colon here\"}"), 0);
    assert_string_equal(res.field, "");
    /* a retry names no field, even where its reason has a colon */
    assert_int_equal(parse("{\"ok\":false,\"error\":\"journal full: sales are waiting\","
                           "\"retry\":true}"),
                     0);
    assert_true(!res.ok && res.retry);
    assert_string_equal(res.field, "");
    assert_string_equal(res.error, "journal full: sales are waiting");
}

static void reply_string_escapes(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"ok\":false,\"error\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac"
                           "\\ud83d\\ude00\\udc00 \xc3\xa9\"}"),
                     0);
    assert_string_equal(res.error, "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                                   "\xef\xbf\xbd \xc3\xa9");
}

/* A reason longer than the result holds is cut between characters, never inside one. */
static void reply_long_error_cut_whole(void **state)
{
    (void)state;
    char reply[2048] = "{\"ok\":false,\"error\":\"x";
    for (int i = 0; i < 600; i++)
        strcat(reply, "\xc3\xa9");
    strcat(reply, "\"}");
    assert_int_equal(parse(reply), 0);
    size_t n = strlen(res.error);
    assert_true(n <= sizeof res.error - 1 && n >= sizeof res.error - 3);
    assert_int_equal(n % 2, 1); /* "x" then whole two-byte characters */
}

static void reply_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{}",
        "{\"ok\":true}",  /* stored, but no ref */
        "{\"ok\":false}", /* refused, but no reason */
        "{\"ok\":tru,\"ref\":\"x\"}",
        "{\"ok\":1,\"ref\":\"x\"}",
        "{\"ok\":true,\"ref\":\"x\"} x", /* trailing bytes */
        "{\"ok\":true,\"ref\":\"x\",}",
        "{\"ok\":true,\"ref\":\"x\"",
        "{\"ok\":true,\"ref\":{\"a\":1}}",       /* nested */
        "{\"ok\":true,\"ref\":\"x\",\"n\":[1]}", /* unknown key, not a scalar */
        "{\"ok\":true,\"ref\":\"x\\u0000y\"}",
        "{\"ok\":true,\"ref\":\"x\ny\"}",
        "{\"ok\":true,\"ref\":\"x\\q\"}",
        "{\"ok\":true,\"ref\":\"x\\u12\"}",
        "{\"ok\":true,\"ref\":\"\xe2\x82\"}", /* a character cut short */
        "[true]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse(bad[i]) != -1)
            fail_msg("accepted: %s", bad[i]);
}

/* ---- the connection, against a fake daemon ---- */

enum act { REPLY, DROP, SILENT, REPLY_THEN_CLOSE };

static struct fake {
    char path[108];
    int lfd;
    enum act acts[8]; /* what to do with each request in turn, on whichever connection */
    int nacts, requests;
    sem_t closed; /* posted after REPLY_THEN_CLOSE closed its connection */
    pthread_t thread;
} fk;

static void *fake_daemon(void *arg)
{
    (void)arg;
    int fd = -1;
    char buf[65536];
    size_t len = 0;
    while (fk.requests < fk.nacts) {
        if (fd < 0) {
            fd = accept(fk.lfd, NULL, NULL);
            len = 0;
            if (fd < 0)
                break;
        }
        char *nl = memchr(buf, '\n', len);
        if (!nl) {
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0) {
                close(fd);
                fd = -1;
            } else {
                len += (size_t)n;
            }
            continue;
        }
        len -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, len);
        enum act a = fk.acts[fk.requests++];
        const char *ok = "{\"ok\":true,\"ref\":\"T:1\"}\n";
        if (a == REPLY || a == REPLY_THEN_CLOSE)
            send(fd, ok, strlen(ok), MSG_NOSIGNAL);
        if (a == SILENT)
            continue;
        if (a != REPLY) {
            close(fd);
            fd = -1;
            if (a == REPLY_THEN_CLOSE)
                sem_post(&fk.closed);
        }
    }
    if (fd >= 0) {
        /* SILENT last: hold the connection until the client gave up on it */
        while (recv(fd, buf, sizeof buf, 0) > 0)
            ;
        close(fd);
    }
    return NULL;
}

static void fake_start(int nacts, const enum act *acts)
{
    snprintf(fk.path, sizeof fk.path, "/tmp/tillsync-test-client-%d.sock", (int)getpid());
    unlink(fk.path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, fk.path);
    fk.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fk.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fk.lfd, 4), 0);
    memcpy(fk.acts, acts, sizeof *acts * (size_t)nacts);
    fk.nacts = nacts;
    fk.requests = 0;
    sem_init(&fk.closed, 0, 0);
    pthread_create(&fk.thread, NULL, fake_daemon, NULL);
}

static int fake_stop(void)
{
    pthread_join(fk.thread, NULL);
    close(fk.lfd);
    unlink(fk.path);
    sem_destroy(&fk.closed);
    return fk.requests;
}

static const struct tillsync_sale one = {
    .txn = "1", .at = "2026-04-07T19:45:00Z", .total = 1, .currency = "GBP"};

static void conn_lost_reply_resent_once(void **state)
{
    (void)state;
    fake_start(2, (enum act[]){DROP, REPLY});
    struct tillsync_client *c = tillsync_open(fk.path, NULL);
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_STORED);
    assert_string_equal(res.ref, "T:1");
    tillsync_close(c);
    assert_int_equal(fake_stop(), 2);
}

static void conn_lost_reply_not_resent_when_told(void **state)
{
    (void)state;
    fake_start(1, (enum act[]){DROP});
    struct tillsync_client *c =
        tillsync_open(fk.path, &(struct tillsync_options){.flags = TILLSYNC_NO_RESEND});
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_RETRY);
    assert_true(res.retry && !res.ok);
    assert_non_null(strstr(res.error, "lost before its reply"));
    tillsync_close(c);
    assert_int_equal(fake_stop(), 1);
}

/* Lost twice in one call: the call gives up and the caller resends later. */
static void conn_lost_twice_is_retry(void **state)
{
    (void)state;
    fake_start(2, (enum act[]){DROP, DROP});
    struct tillsync_client *c = tillsync_open(fk.path, NULL);
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_RETRY);
    tillsync_close(c);
    assert_int_equal(fake_stop(), 2);
}

/* Closed by the daemon while idle: opened again, and the sale sent once. */
static void conn_closed_while_idle_reopened(void **state)
{
    (void)state;
    fake_start(2, (enum act[]){REPLY_THEN_CLOSE, REPLY});
    struct tillsync_client *c = tillsync_open(fk.path, NULL);
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_STORED);
    sem_wait(&fk.closed);
    assert_int_equal(tillsync_sale_completed_json(c, "{\"txn\":\"2\"}", &res), TILLSYNC_STORED);
    tillsync_close(c);
    assert_int_equal(fake_stop(), 2);
}

static void conn_no_reply_is_retry(void **state)
{
    (void)state;
    fake_start(1, (enum act[]){SILENT});
    struct tillsync_client *c =
        tillsync_open(fk.path, &(struct tillsync_options){.reply_timeout_ms = 50});
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_RETRY);
    assert_non_null(strstr(res.error, "no reply"));
    tillsync_close(c); /* closing lets the fake daemon's last recv end */
    assert_int_equal(fake_stop(), 1);
}

static void conn_no_daemon_is_retry(void **state)
{
    (void)state;
    struct tillsync_client *c = tillsync_open("/nonexistent/tillsync.sock", NULL);
    assert_non_null(c);
    assert_int_equal(tillsync_sale_completed(c, &one, &res), TILLSYNC_RETRY);
    assert_non_null(strstr(res.error, "not reachable"));
    assert_int_equal(tillsync_sale_completed_json(c, "{\"a\":\"\n\"}", &res), TILLSYNC_REJECTED);
    assert_string_equal(res.field, "request");
    tillsync_close(c);
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_null(tillsync_open(longpath, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_full_sale),
        cmocka_unit_test(format_leaves_out_null_fields),
        cmocka_unit_test(format_escapes_every_byte),
        cmocka_unit_test(format_qty),
        cmocka_unit_test(json_object_becomes_one_line),
        cmocka_unit_test(reply_ok_and_duplicate),
        cmocka_unit_test(reply_errors_name_the_field),
        cmocka_unit_test(reply_string_escapes),
        cmocka_unit_test(reply_long_error_cut_whole),
        cmocka_unit_test(reply_refused),
        cmocka_unit_test(conn_lost_reply_resent_once),
        cmocka_unit_test(conn_lost_reply_not_resent_when_told),
        cmocka_unit_test(conn_lost_twice_is_retry),
        cmocka_unit_test(conn_closed_while_idle_reopened),
        cmocka_unit_test(conn_no_reply_is_retry),
        cmocka_unit_test(conn_no_daemon_is_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
