# The daemon as an installed service: its binaries, the systemd unit, the BusyBox/SysV init
# script, an example configuration and the documents, all in the component "daemon" (the one the
# .deb packs: package.cmake). They live here, with the packaging, rather than beside tillsyncd.c:
# they are how a build meets an operating system (its init, its paths, its package manager), and
# the example configuration names a backend kind, which nothing in firmware/ may (README,
# Backends; layout.backend_boundary). The unit and the script name the installed binaries, so they
# are generated at install time, for the prefix installed to: /usr (the package) puts the
# configuration in /etc/tillsync and the unit in /lib/systemd/system; any other prefix keeps
# everything under it (cmake --install --prefix /tmp/x never writes outside /tmp/x). The journal
# and the sockets are /var/lib/tillsync and /run/tillsync in every case: the unit's
# StateDirectory and RuntimeDirectory.
include(GNUInstallDirs)

install(TARGETS tillsyncd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT daemon)
install(TARGETS tillsyncctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)

set(service_dir ${CMAKE_CURRENT_LIST_DIR})
# Generated per destination: installs to several prefixes may run at once (the tests do).
set(gen_dir "${PROJECT_BINARY_DIR}/service-installed/\${dest_hash}")
install(CODE "
  string(MD5 dest_hash \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(root \"\")
  else()
    set(root \"\${CMAKE_INSTALL_PREFIX}\")
  endif()
  set(TILLSYNC_SBINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}\")
  set(TILLSYNC_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(TILLSYNC_CONFDIR \"\${root}/etc/tillsync\")
  set(TILLSYNC_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/share/doc/tillsync\")
  configure_file(\"${service_dir}/tillsync.service.in\" \"${gen_dir}/tillsync.service\" @ONLY)
  configure_file(\"${service_dir}/tillsync.init.in\" \"${gen_dir}/tillsync\" @ONLY)
  file(INSTALL DESTINATION \"\${root}/lib/systemd/system\" TYPE FILE
       FILES \"${gen_dir}/tillsync.service\")
  file(INSTALL DESTINATION \"\${root}/etc/init.d\" TYPE PROGRAM FILES \"${gen_dir}/tillsync\")
  file(INSTALL DESTINATION \"\${TILLSYNC_CONFDIR}\" TYPE FILE
       FILES \"${service_dir}/tillsync.json.example\")
" COMPONENT daemon)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/INTEGRATION.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tillsync COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/TECHNICIAN.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/tillsync COMPONENT daemon OPTIONAL)
