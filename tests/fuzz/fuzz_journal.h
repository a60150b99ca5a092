/*
 * What fuzz_journal_mount and journal_seeds share: the flash an image is mounted from and the
 * backends it was written for. One geometry, small so that an image is a small input; change it
 * here and regenerate the corpus (journal_seeds, see CMakeLists.txt).
 */
#ifndef TILLSYNC_FUZZ_JOURNAL_H
#define TILLSYNC_FUZZ_JOURNAL_H

#include <stdint.h>

#include "hal/flash.h"

/* 4 erase blocks (the fewest a journal takes) of 4 KiB (the smallest erase_size the
 * configuration allows), NOR-like 16-byte program units: a 16 KiB image. */
#define FUZZ_JOURNAL_GEOMETRY                                                                      \
    {                                                                                              \
        4 * 4096, 4096, 16                                                                         \
    }

static const uint32_t fuzz_journal_backends[2] = {0x1111, 0x2222};

#endif
