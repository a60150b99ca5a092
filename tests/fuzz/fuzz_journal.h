/*
 * What fuzz_journal_mount and journal_seeds share: the flash an image is mounted from, how an
 * input is laid out on it, and the backends it was written for. Small, so that an image is a
 * small input; change it here, then regenerate the corpus (journal_seeds, see CMakeLists.txt).
 */
#ifndef TILLSYNC_FUZZ_JOURNAL_H
#define TILLSYNC_FUZZ_JOURNAL_H

#include <stdint.h>

#include "hal/flash.h"

/* 4 erase blocks (the fewest a journal takes) of 4 KiB (the smallest erase_size the
 * configuration allows), NOR-like 16-byte program units: a 16 KiB device. */
static const struct hal_flash_geometry fuzz_journal_geometry = {4 * 4096, 4096, 16};

/* The journal's block: a header, then records (docs/FORMAT.md). Today one erase block. */
#define FUZZ_JOURNAL_BLOCK 4096u

/* An input is the first FUZZ_JOURNAL_CHUNK bytes of each block in turn, so that a journal of
 * large blocks still fuzzes from a small input: its headers and first records. The rest of the
 * device reads erased. */
#define FUZZ_JOURNAL_CHUNK 4096u

static const uint32_t fuzz_journal_backends[2] = {0x1111, 0x2222};

#endif
