# A developer's x86 machine: the journal is a flash image in a file on the local filesystem.
set(BOARD_DEFINES BOARD_HAS_FLASH_FILE)
