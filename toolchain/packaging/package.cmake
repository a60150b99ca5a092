# The Debian package `tillsync` (cpack -G DEB from a build directory): the component "daemon"
# (install.cmake: tillsyncd, tillsyncctl, the unit, the init script, the example
# configuration, the documents) under /usr, with Depends computed by dpkg-shlibdeps and the
# maintainer scripts of debian/. libtillsync (component "client") is for the POS's machine and
# is not in it.
set(CPACK_PACKAGE_NAME tillsync)
set(CPACK_PACKAGE_VENDOR "tillsync")
set(TILLSYNC_DEB_MAINTAINER "tillsync maintainers <maintainers@tillsync.invalid>" CACHE STRING
    "the .deb's Maintainer (and debian/changelog's)")
set(CPACK_PACKAGE_CONTACT "${TILLSYNC_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "POS sales to the merchant's customer platforms")
set(CPACK_PACKAGE_DESCRIPTION
    "tillsyncd takes completed sales from the point-of-sale application on a Unix\n"
    "socket, keeps each in a flash journal before it answers, and uploads it to the\n"
    "configured customer platforms (Glu, Gleantap, Givebutter) under a stable\n"
    "reference. tillsyncctl is the technician's tool.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};${PROJECT_NAME};daemon;/")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser makes the system user in postinst.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(pkg_dir ${CMAKE_CURRENT_LIST_DIR}/debian)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${pkg_dir}/postinst ${pkg_dir}/prerm ${pkg_dir}/postrm ${pkg_dir}/conffiles)

# What Debian's policy wants in every package: the copyright, a compressed changelog (gzip -n:
# no name or time inside, so the package builds the same twice), lintian's overrides.
set(pkg_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/tillsync)
install(FILES ${pkg_dir}/copyright DESTINATION ${pkg_doc} COMPONENT daemon)
configure_file(${pkg_dir}/changelog.in ${PROJECT_BINARY_DIR}/changelog @ONLY)
install(CODE "
  string(MD5 dest_hash \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  set(gz \"${PROJECT_BINARY_DIR}/changelog-\${dest_hash}/changelog.gz\")
  file(MAKE_DIRECTORY \"${PROJECT_BINARY_DIR}/changelog-\${dest_hash}\")
  execute_process(COMMAND gzip -9nc \"${PROJECT_BINARY_DIR}/changelog\" OUTPUT_FILE \"\${gz}\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${pkg_doc}\" TYPE FILE FILES \"\${gz}\")
" COMPONENT daemon)
install(FILES ${pkg_dir}/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
        RENAME tillsync COMPONENT daemon)

include(CPack)
