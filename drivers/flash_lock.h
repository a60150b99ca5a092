/* Drivers' own: the lock that keeps one journal to one process. */
#ifndef DRIVERS_FLASH_LOCK_H
#define DRIVERS_FLASH_LOCK_H

#include <stddef.h>

/*
 * Locks the whole of fd, the journal at path: exclusive for a writer, shared for a reader. Taken
 * right after open, before a byte is read, and held until fd is closed. Returns 0, or -EBUSY with
 * "PATH is in use by process PID" in err, or another negative errno if the lock cannot be had.
 *
 * A POSIX record lock, so that the holder's pid can be named. Such a lock belongs to the process
 * and goes when the process closes any descriptor of the file, so nothing else in a process that
 * holds the journal may open it.
 */
int flash_lock(int fd, const char *path, int exclusive, char *err, size_t errlen);

#endif
