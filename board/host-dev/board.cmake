# A developer's x86 machine: the journal is a flash image in a file on the local filesystem, or
# an MTD device (/dev/mtdN: the kernel's nandsim, or flash attached to the machine).
set(BOARD_DEFINES BOARD_HAS_FLASH_FILE BOARD_HAS_FLASH_MTD BOARD_HAS_TAP_SERIAL)
# GPIO input lines (power fail, sale signal): a FIFO standing in for one (tests, a shell), and
# the character device where libgpiod was found.
list(APPEND BOARD_DEFINES BOARD_HAS_GPIO_FIFO)
if(GPIOD_FOUND)
  list(APPEND BOARD_DEFINES BOARD_HAS_GPIO)
endif()
