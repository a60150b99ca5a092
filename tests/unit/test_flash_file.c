/*
 * One journal image, one process: the file driver locks the image before reading it, so a second
 * daemon (or a verify while the daemon runs) is refused with the holder's pid, and so is a daemon
 * that finds another one still creating the image. Readers share.
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
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/flash_file.h"

static const struct hal_flash_geometry geo = {16 * 4096, 4096, 16};
static char dir[64], path[128], tmp[140], err[512];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tillsync-test-flash-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/journal.img", dir);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unlink(tmp);
    rmdir(dir);
    return 0;
}

/* A child process that holds what hold() gives it until released. */
struct holder {
    pid_t pid;
    int release;
};

static struct holder hold(int (*take)(void))
{
    int held[2], release[2];
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(release), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that failed holding it */
        char c = take() == 0 ? 'y' : 'n';
        if (write(held[1], &c, 1) != 1 || read(release[0], &c, 1) < 0)
            _exit(1);
        _exit(0); /* its locks go with it */
    }
    char c = 0;
    assert_int_equal(read(held[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    close(held[0]);
    close(held[1]);
    close(release[0]);
    return (struct holder){pid, release[1]};
}

static void release(struct holder h)
{
    assert_int_equal(write(h.release, "x", 1), 1);
    close(h.release);
    int status = 0;
    assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int open_image(int read_only)
{
    struct hal_flash *f = NULL;
    char why[256];
    return flash_file_open(path, &geo, read_only, &f, why, sizeof why);
}

static int open_writer(void)
{
    return open_image(0);
}

static int open_reader(void)
{
    return open_image(1);
}

/* An image being built by another process: its temporary file, locked as the journal. */
static int building(void)
{
    int fd = open(tmp, O_RDWR | O_CREAT, 0600);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    return fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 0 : -1;
}

static void assert_refused(int read_only, pid_t holder)
{
    struct hal_flash *f = NULL;
    memset(err, 0, sizeof err);
    assert_int_equal(flash_file_open(path, &geo, read_only, &f, err, sizeof err), -EBUSY);
    assert_null(f);
    char want[200];
    snprintf(want, sizeof want, "%s is in use by process %ld", path, (long)holder);
    assert_string_equal(err, want);
}

static void assert_opens(int read_only)
{
    struct hal_flash *f = NULL;
    int rc = flash_file_open(path, &geo, read_only, &f, err, sizeof err);
    if (rc)
        fail_msg("flash_file_open: %d %s", rc, err);
    hal_flash_close(f);
}

static void test_a_writer_excludes_writers_and_readers(void **state)
{
    (void)state;
    struct holder h = hold(open_writer); /* creates the image, and holds it */
    assert_refused(0, h.pid);
    assert_refused(1, h.pid);
    release(h);
    assert_opens(0);
    assert_opens(1);
}

static void test_readers_share_and_exclude_a_writer(void **state)
{
    (void)state;
    assert_opens(0); /* the image exists */
    struct holder h = hold(open_reader);
    assert_opens(1);
    assert_refused(0, h.pid);
    release(h);
    assert_opens(0);
}

/*
 * A daemon starting while another still builds the image is refused too (it used to truncate the
 * other's half-built file), and a temporary file a cut creation left behind is rebuilt whole.
 */
static void test_creation_is_locked_and_a_leftover_rebuilt(void **state)
{
    (void)state;
    struct holder h = hold(building);
    assert_refused(0, h.pid);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    release(h);

    int fd = open(tmp, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "half an image", 13), 13);
    close(fd);
    struct hal_flash *f = NULL;
    assert_int_equal(flash_file_open(path, &geo, 0, &f, err, sizeof err), 0);
    uint8_t block[4096];
    assert_int_equal(hal_flash_read(f, 0, block, sizeof block), 0);
    for (size_t i = 0; i < sizeof block; i++)
        assert_int_equal(block[i], 0xFF);
    hal_flash_close(f);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, geo.size);
    assert_int_equal(stat(tmp, &st), -1);
}

/* fsync is wrapped at link time: the test sees which descriptors the driver syncs. */
int __real_fsync(int fd);
int __wrap_fsync(int fd);
static int dir_synced_with_image_in_place;

int __wrap_fsync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && access(path, F_OK) == 0)
        dir_synced_with_image_in_place = 1;
    return __real_fsync(fd);
}

/*
 * A new image is renamed into place; the rename is durable only once the directory is synced.
 * Without that, a power cut soon after the first start could bring back the temporary name, and
 * the next start would empty it, with every sale acknowledged in the meantime (found in review).
 */
static void test_creation_syncs_the_directory(void **state)
{
    (void)state;
    dir_synced_with_image_in_place = 0;
    struct hal_flash *f = NULL;
    assert_int_equal(flash_file_open(path, &geo, 0, &f, err, sizeof err), 0);
    hal_flash_close(f);
    if (!dir_synced_with_image_in_place)
        fail_msg("the image was renamed into place but its directory was never synced");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_writer_excludes_writers_and_readers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readers_share_and_exclude_a_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_is_locked_and_a_leftover_rebuilt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_creation_syncs_the_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
