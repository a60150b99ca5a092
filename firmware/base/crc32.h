#ifndef TILLSYNC_CRC32_H
#define TILLSYNC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). Pass 0 to start, the last result to continue. */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);

#endif
