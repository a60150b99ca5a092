# QEMU's 'virt' machine with an ARMv7 (armhf) CPU, the reference for ARM terminals in CI.
# Its storage is virtio block (eMMC-like), so the journal is a flash image in a file; an ARM
# terminal with raw NOR or NAND keeps it on an MTD partition (/dev/mtdN) instead.
set(BOARD_DEFINES BOARD_HAS_FLASH_FILE BOARD_HAS_FLASH_MTD)
# GPIO input lines (power fail, sale signal) where libgpiod was found; else only the FIFO fake.
if(GPIOD_FOUND)
  list(APPEND BOARD_DEFINES BOARD_HAS_GPIO)
endif()
