/*
 * A copy-on-write view of a flash device, for import's dry run: the journal code runs on it as
 * on the device, erases and programs land in RAM (only the erase blocks touched), and the device
 * is never written. What the dry run could not store, the real run is not started for.
 */
#ifndef TILLSYNC_CTL_TRIAL_FLASH_H
#define TILLSYNC_CTL_TRIAL_FLASH_H

#include "hal/flash.h"

/* NULL if out of memory. hal_flash_close() frees the view, never the device under it. */
struct hal_flash *trial_flash_over(struct hal_flash *real);

#endif
