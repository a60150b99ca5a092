/*
 * sd_notify's protocol without libsystemd (firmware/app/service_notify.c): nothing without
 * NOTIFY_SOCKET, a datagram to a path or to an abstract name ('@'), malformed names refused, and
 * the watchdog interval only for the process WATCHDOG_PID names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "service_notify.h"

static void expect_datagram(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_no_socket_is_a_no_op(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(service_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(service_notify("READY=1"), 0);
}

static void test_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/notify-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/n.sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(service_notify("READY=1\nSTATUS=ok"), 1);
    expect_datagram(fd, "READY=1\nSTATUS=ok");
    assert_int_equal(service_notifyf("WATCHDOG=%d", 1), 1);
    expect_datagram(fd, "WATCHDOG=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    /* Nobody listening: the error, never a hang or a signal. */
    assert_true(service_notify("READY=1") < 0);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "tillsync-unit-%ld", (long)getpid());
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path + 1, name, strlen(name));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    char env[80];
    snprintf(env, sizeof env, "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(service_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);
}

static void test_bad_names(void **state)
{
    (void)state;
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(service_notify("READY=1"), -EINVAL);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(service_notify("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_interval(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(service_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(service_watchdog_ms(), 30000);
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(service_watchdog_ms(), 30000);
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* a parent's, inherited: not ours to feed */
    assert_int_equal(service_watchdog_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "500", 1); /* under a millisecond still pings */
    assert_int_equal(service_watchdog_ms(), 1);
    setenv("WATCHDOG_USEC", "0", 1);
    assert_int_equal(service_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "12s", 1);
    assert_int_equal(service_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_socket_is_a_no_op), cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),      cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_watchdog_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
