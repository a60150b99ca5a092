# QEMU's 'virt' machine with an ARMv7 (armhf) CPU, the reference for ARM terminals in CI.
# Its storage is virtio block (eMMC-like), so the journal is a flash image in a file; an ARM
# terminal with raw NOR or NAND keeps it on an MTD partition (/dev/mtdN) instead.
set(BOARD_DEFINES BOARD_HAS_FLASH_FILE BOARD_HAS_FLASH_MTD BOARD_HAS_TAP_SERIAL)
# GPIO input lines (power fail, sale signal): a FIFO standing in for one (tests, a shell), and
# the character device where libgpiod was found.
list(APPEND BOARD_DEFINES BOARD_HAS_GPIO_FIFO)
if(GPIOD_FOUND)
  list(APPEND BOARD_DEFINES BOARD_HAS_GPIO)
endif()
