# Install rules (GNUInstallDirs) and the Debian package (CPack DEB).
#
#   cmake --install build --prefix /opt/ddas      # anywhere; the program
#                                                 # finds ../share/... itself
#   cmake --build build --target package          # ddas-worker_<v>_amd64.deb
#
# The package is configured with CMAKE_INSTALL_PREFIX=/usr and
# CMAKE_INSTALL_SYSCONFDIR=/etc (scripts/build-deb), so that the example
# configuration lands in /etc/ddas-worker and the units in
# /usr/lib/systemd/system.

install(TARGETS ddas-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY config/schemas/ DESTINATION ${DDAS_INSTALL_SCHEMA_DIR}
        FILES_MATCHING PATTERN "*.json")
install(FILES config/NOTICE.md DESTINATION ${CMAKE_INSTALL_DATADIR}/ddas-worker)

# The example configuration: every key, commented. Secrets come from files.
install(FILES config/ddas-worker.conf
        DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/ddas-worker
        RENAME worker.conf PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The systemd unit, with the paths of this install (the prefix given to
# `cmake --install --prefix`, known only at install time) in ExecStart and
# the configuration paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(DDAS_UNIT_ETC "${CMAKE_INSTALL_SYSCONFDIR}")
else()
  set(DDAS_UNIT_ETC "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}")
endif()
install(CODE "
  file(READ \"${CMAKE_CURRENT_SOURCE_DIR}/deploy/ddas-worker@.service\" unit)
  string(REPLACE \"/usr/bin/ddas-worker\"
         \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/ddas-worker\"
         unit \"\${unit}\")
  string(REPLACE \"/etc/ddas-worker\" \"${DDAS_UNIT_ETC}/ddas-worker\"
         unit \"\${unit}\")
  file(WRITE \"${CMAKE_CURRENT_BINARY_DIR}/install/ddas-worker@.service\"
       \"\${unit}\")")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/install/ddas-worker@.service
        DESTINATION lib/systemd/system)

# Man pages, compressed as Debian keeps them (gzip -n: no name or time in
# the file, so the same page gives the same bytes).
foreach(page ddas-worker.1 ddas-worker.conf.5)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/man/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
    COMMAND gzip -9 -n -c ${CMAKE_CURRENT_SOURCE_DIR}/man/${page}
            > ${CMAKE_CURRENT_BINARY_DIR}/man/${page}.gz
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/man/${page})
  list(APPEND DDAS_MAN_GZ ${CMAKE_CURRENT_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(man-pages ALL DEPENDS ${DDAS_MAN_GZ})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/man/ddas-worker.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/man/ddas-worker.conf.5.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES deploy/bash-completion/ddas-worker
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES LICENSE README.md CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- Debian package
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ddas-worker)
set(CPACK_PACKAGE_VENDOR "ddas-worker")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "delivers Dutch debt-assistance data (DDAS) from Kafka to CBS")
set(CPACK_PACKAGE_DESCRIPTION
    "Validates, normalises, batches and signs DDAS deliveries (schuldhulp-\n verlening and vroegsignalering) read from Kafka and forwards them to the\n statistics office CBS over HTTPS with mutual TLS and OAuth2.")
set(CPACK_PACKAGE_CONTACT "ddas-worker maintainers <ddas-worker@localhost>")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # ddas-worker_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_LICENSE EUPL-1.2)
# The runtime libraries come from dpkg-shlibdeps (libc6, libcurl4,
# libjansson4, librdkafka1, libssl3, ...), never the -dev packages.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "man-db")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postrm
    ${CMAKE_CURRENT_BINARY_DIR}/install/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/install/conffiles
     "${CMAKE_INSTALL_FULL_SYSCONFDIR}/ddas-worker/worker.conf\n")
include(CPack)
