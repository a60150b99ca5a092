# Cross-build for armhf (Debian's arm-linux-gnueabihf gcc) against the sysroot
# made by toolchain/make-sysroot.sh; tests run under qemu-arm via CTest.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

set(TILLSYNC_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build/sysroot-armhf"
    CACHE PATH "armhf sysroot made by toolchain/make-sysroot.sh")
get_filename_component(_tillsync_sysroot "${TILLSYNC_SYSROOT}" ABSOLUTE)
if(NOT EXISTS "${_tillsync_sysroot}/.stamp")
  message(FATAL_ERROR "No armhf sysroot at ${_tillsync_sysroot}; "
                      "run toolchain/make-sysroot.sh first")
endif()
set(CMAKE_SYSROOT "${_tillsync_sysroot}")
# try_compile() re-reads this file in a fresh project; keep a -D override.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TILLSYNC_SYSROOT)

# Host tools (pkg-config, qemu) from the host; everything linked from the sysroot.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Plain host pkg-config, but only the sysroot's .pc files, with -I/-L rebased
# into it (Debian's arm-linux-gnueabihf-pkg-config would read the host's
# /usr/lib/arm-linux-gnueabihf instead).
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/arm-linux-gnueabihf/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})

# -L makes qemu resolve the loader and every open() inside the sysroot; armhf
# glibc already searches /lib and /usr/lib/arm-linux-gnueabihf there.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-arm;-L;${CMAKE_SYSROOT}")
