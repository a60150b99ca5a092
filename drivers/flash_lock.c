#define _GNU_SOURCE
#include "flash_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int flash_lock(int fd, const char *path, int exclusive, char *err, size_t errlen)
{
    const short type = exclusive ? F_WRLCK : F_RDLCK;
    /* The holder may let go between our attempt and our question: then attempt again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EACCES) {
            int e = errno;
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
            return -e;
        }
        fl = (struct flock){.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(fd, F_GETLK, &fl) != 0)
            break;
        if (fl.l_type == F_UNLCK)
            continue;
        if (fl.l_pid > 0)
            snprintf(err, errlen, "%s is in use by process %ld", path, (long)fl.l_pid);
        else /* a holder in another pid namespace */
            snprintf(err, errlen, "%s is in use by another process", path);
        return -EBUSY;
    }
    snprintf(err, errlen, "%s is in use by another process", path);
    return -EBUSY;
}
