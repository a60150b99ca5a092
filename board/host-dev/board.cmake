# A developer's x86 machine: the journal is a flash image in a file on the local filesystem, or
# an MTD device (/dev/mtdN: the kernel's nandsim, or flash attached to the machine).
set(BOARD_DEFINES BOARD_HAS_FLASH_FILE BOARD_HAS_FLASH_MTD)
# GPIO input lines (power fail, sale signal) where libgpiod was found; else only the FIFO fake.
if(GPIOD_FOUND)
  list(APPEND BOARD_DEFINES BOARD_HAS_GPIO)
endif()
