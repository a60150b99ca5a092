/*
 * The listening socket under the POS intake and the control socket: the path it is given is
 * removed only when it is a socket nothing answers on, and at the descriptor limit a waiting
 * connection is still taken (or the caller is told, rather than polled in a spin).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/unix_listener.h"

static char dir[48], path[64], err[512];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tillsync-test-listener-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.sock", dir);
    memset(err, 0, sizeof err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct sockaddr_un addr(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    return sa;
}

/* A plain listener of another process's making, at path. */
static int listen_at(int backlog)
{
    struct sockaddr_un sa = addr();
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* A connection to path; -1 with errno if refused (EAGAIN: backlog full). */
static int connect_to(void)
{
    struct sockaddr_un sa = addr();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static ino_t inode(void)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

static void write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void assert_file(const char *p, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_string_equal(buf, text);
}

static void test_fresh_path_listens_and_close_removes_it(void **state)
{
    (void)state;
    struct unix_listener l;
    assert_int_equal(unix_listener_open(&l, path, 8, 0660, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    int c = connect_to();
    assert_true(c >= 0);
    assert_true(unix_listener_pending(&l));
    int fd = unix_listener_accept(&l);
    assert_true(fd >= 0);
    assert_int_equal(unix_listener_accept(&l), -1);
    assert_int_equal(errno, EAGAIN);
    close(fd);
    close(c);
    unix_listener_close(&l);
    assert_int_equal(lstat(path, &st), -1);
}

/* Never another kind of file: a journal image, a regular file, a symlink (even to a socket). */
static void test_other_files_are_never_removed(void **state)
{
    (void)state;
    struct unix_listener l;
    write_file(path, "sales\n");
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), -EEXIST);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "is a regular file, not a socket"));
    assert_file(path, "sales\n");
    unlink(path);

    char target[96];
    snprintf(target, sizeof target, "%s/stale.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", target);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd); /* a stale socket, but reached through a link */
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), -EEXIST);
    assert_non_null(strstr(err, "symbolic link"));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    unlink(path);
    unlink(target);

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), -EEXIST);
    assert_int_equal(rmdir(path), 0);
}

/* A crashed daemon's socket (nothing listens: ECONNREFUSED) is the one thing taken over. */
static void test_stale_socket_is_replaced(void **state)
{
    (void)state;
    close(listen_at(8)); /* bound, listened, gone without unlinking */
    assert_int_equal(connect_to(), -1);
    assert_int_equal(errno, ECONNREFUSED);
    struct unix_listener l;
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), 0);
    int c = connect_to(); /* answered now */
    assert_true(c >= 0);
    close(c);
    unix_listener_close(&l);
}

/* A live listener's socket is refused, and so is a stopped one's whose backlog is full. */
static void test_live_socket_is_refused(void **state)
{
    (void)state;
    int owner = listen_at(8);
    ino_t before = inode();
    struct unix_listener l;
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), -EADDRINUSE);
    assert_non_null(strstr(err, path));
    assert_int_equal(inode(), before);
    close(owner);
    unlink(path);

    owner = listen_at(0);
    int held[64], n = 0;
    while (n < 64 && (held[n] = connect_to()) >= 0)
        n++;
    assert_int_equal(errno, EAGAIN); /* the backlog of a daemon that is not accepting */
    before = inode();
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), -EADDRINUSE);
    assert_non_null(strstr(err, "not accepting"));
    assert_int_equal(inode(), before);
    while (n > 0)
        close(held[--n]);
    close(owner);
}

/* Close removes the socket file only while it is still the one bound. */
static void test_close_leaves_a_replaced_path_alone(void **state)
{
    (void)state;
    struct unix_listener l;
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), 0);
    unlink(path);
    write_file(path, "not ours\n");
    unix_listener_close(&l);
    assert_file(path, "not ours\n");
}

/*
 * At the descriptor limit the reserve takes one waiting connection; after that accept says
 * EMFILE (and the caller frees a descriptor or pauses) instead of leaving a spin to poll.
 */
static void test_descriptor_limit(void **state)
{
    (void)state;
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct unix_listener l;
    assert_int_equal(unix_listener_open(&l, path, 8, 0, err, sizeof err), 0);
    int c1 = connect_to(), c2 = connect_to();
    assert_true(c1 >= 0 && c2 >= 0);
    int filler[64], n = 0;
    while (n < 64 && (filler[n] = dup(0)) >= 0)
        n++;
    assert_int_equal(errno, EMFILE);
    int fd = unix_listener_accept(&l);
    assert_true(fd >= 0); /* the reserve's descriptor */
    assert_int_equal(unix_listener_accept(&l), -1);
    assert_int_equal(errno, EMFILE);
    assert_true(unix_listener_pending(&l));
    unix_listener_pause(&l, 60000);
    assert_int_equal(unix_listener_poll_fd(&l), -1);
    unix_listener_pause(&l, 0);
    assert_int_equal(unix_listener_poll_fd(&l), l.fd);
    /* A connection closed through the listener refills the reserve with its descriptor. */
    assert_int_equal(l.reserve, -1);
    unix_listener_release(&l, fd);
    assert_true(l.reserve >= 0);
    assert_int_equal(dup(0), -1); /* taken by the reserve, none left over */
    int fd2 = unix_listener_accept(&l);
    assert_true(fd2 >= 0);
    unix_listener_release(&l, fd2);
    while (n > 0)
        close(filler[--n]);
    close(c1);
    close(c2);
    unix_listener_close(&l);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_path_listens_and_close_removes_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_files_are_never_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_socket_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_leaves_a_replaced_path_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_descriptor_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
