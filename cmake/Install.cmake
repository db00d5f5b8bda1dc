include(CMakePackageConfigHelpers)

install(TARGETS radpipe_sdk EXPORT RadPipeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY sdk/include/radpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT RadPipeTargets NAMESPACE RadPipe:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe)

configure_package_config_file(cmake/RadPipeConfig.cmake.in
  "${PROJECT_BINARY_DIR}/RadPipeConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR RADPIPE_PLUGIN_INSTALL_DIR)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/RadPipeConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/RadPipeConfig.cmake"
  "${PROJECT_BINARY_DIR}/RadPipeConfigVersion.cmake"
  cmake/RadPipePlugin.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe)
