# What `cmake --install` lays out, and the Debian packages CPack makes of it:
#   radpipe      (component runtime) bin/radpipe, the SDK's shared library, lib/radpipe/plugins/,
#                share/radpipe/ (ready pipelines, the demo model and sample images)
#   radpipe-dev  (component dev) include/radpipe/, lib/cmake/RadPipe/, the plugin template, the
#                vendor guide, the stage reference and the SDK's API reference
# Every install() without a COMPONENT belongs to runtime (CMAKE_INSTALL_DEFAULT_COMPONENT_NAME).
include(CMakePackageConfigHelpers)

file(STRINGS "${PROJECT_SOURCE_DIR}/sdk/include/radpipe/version.hpp" radpipe_abi_line REGEX "^#define RADPIPE_ABI_VERSION")
string(REGEX MATCH "[0-9]+" RADPIPE_ABI_VERSION "${radpipe_abi_line}")
set(RADPIPE_PLUGIN_LIBS_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/radpipe/libs")

install(TARGETS radpipe_sdk EXPORT RadPipeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY sdk/include/radpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT RadPipeTargets NAMESPACE RadPipe:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe COMPONENT dev)

configure_package_config_file(cmake/RadPipeConfig.cmake.in
  "${PROJECT_BINARY_DIR}/RadPipeConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR RADPIPE_PLUGIN_INSTALL_DIR)
# A plugin works with every SDK release of the same ABI; in 0.x every minor release changes it.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/RadPipeConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/RadPipeConfig.cmake"
  "${PROJECT_BINARY_DIR}/RadPipeConfigVersion.cmake"
  cmake/RadPipePlugin.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/RadPipe COMPONENT dev)

# The demo runs from an installation alone: radpipe predict PREFIX/share/radpipe/pipelines/demo.toml
set(RADPIPE_DATA_INSTALL_DIR "${CMAKE_INSTALL_DATADIR}/radpipe")
install(DIRECTORY pipelines DESTINATION ${RADPIPE_DATA_INSTALL_DIR} COMPONENT runtime)
install(DIRECTORY samples/fracatlas samples/models DESTINATION ${RADPIPE_DATA_INSTALL_DIR}/samples COMPONENT runtime)
# Beside the sample data, so that its layout matches the source tree (samples/plugin-template).
install(DIRECTORY samples/plugin-template DESTINATION ${RADPIPE_DATA_INSTALL_DIR}/samples COMPONENT dev)
install(FILES docs/plugins.md docs/pipelines.md docs/batch.md docs/stages.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT dev OPTIONAL)

# The SDK's API reference (Doxygen, public headers only). Part of the default build when Doxygen
# is installed; CTest's sdk_api_docs fails on any Doxygen warning (an undocumented declaration).
find_package(Doxygen)
if(DOXYGEN_FOUND)
  set(RADPIPE_API_DOCS_DIR "${PROJECT_BINARY_DIR}/docs/api")
  configure_file(docs/Doxyfile.in "${PROJECT_BINARY_DIR}/docs/Doxyfile" @ONLY)
  file(GLOB sdk_headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/sdk/include/radpipe/*.hpp")
  add_custom_command(OUTPUT "${RADPIPE_API_DOCS_DIR}/html/index.html"
    COMMAND Doxygen::doxygen "${PROJECT_BINARY_DIR}/docs/Doxyfile"
    DEPENDS ${sdk_headers} "${PROJECT_BINARY_DIR}/docs/Doxyfile"
    COMMENT "SDK API reference (Doxygen)")
  add_custom_target(sdk_api_docs ALL DEPENDS "${RADPIPE_API_DOCS_DIR}/html/index.html")
  install(DIRECTORY "${RADPIPE_API_DOCS_DIR}/html/" DESTINATION "${CMAKE_INSTALL_DOCDIR}/api" COMPONENT dev OPTIONAL)
  if(RADPIPE_BUILD_TESTS)
    add_test(NAME sdk_api_docs COMMAND Doxygen::doxygen "${PROJECT_BINARY_DIR}/docs/Doxyfile")
    set_tests_properties(sdk_api_docs PROPERTIES LABELS docs TIMEOUT 120)
  endif()
else()
  message(STATUS "Doxygen not found: no SDK API reference (scripts/setup-debian.sh installs doxygen)")
endif()

# docs/stages.md is generated from the stages' schemas: `cmake --build build --target
# update_stage_docs` rewrites it, and CTest's stage_docs_current fails while it is out of date.
get_property(radpipe_plugin_targets GLOBAL PROPERTY RADPIPE_PLUGIN_TARGETS)
add_custom_target(update_stage_docs
  COMMAND "${CMAKE_COMMAND}" -DRADPIPE=$<TARGET_FILE:radpipe> -DDOCUMENT=${PROJECT_SOURCE_DIR}/docs/stages.md -DMODE=update
          -P "${PROJECT_SOURCE_DIR}/cmake/StageDocs.cmake"
  DEPENDS radpipe ${radpipe_plugin_targets}
  COMMENT "Regenerating docs/stages.md with radpipe inspect --all --markdown")
if(RADPIPE_BUILD_TESTS)
  add_test(NAME stage_docs_current
    COMMAND "${CMAKE_COMMAND}" -DRADPIPE=$<TARGET_FILE:radpipe> -DDOCUMENT=${PROJECT_SOURCE_DIR}/docs/stages.md -DMODE=check
            -P "${PROJECT_SOURCE_DIR}/cmake/StageDocs.cmake")
  set_tests_properties(stage_docs_current PROPERTIES LABELS docs TIMEOUT 120)
endif()

# Debian packages: `cpack --config build/CPackConfig.cmake` (tests/package/package_test.sh).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME radpipe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VENDOR "radpipe")
set(CPACK_PACKAGE_CONTACT "radpipe maintainers <radpipe@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/radpipe")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME radpipe)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION science)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "Plugin pipelines for musculoskeletal radiograph analysis
 radpipe runs deep-learning pipelines on radiographs (DICOM and image files): readers,
 preprocessing, models, aggregators and explainers are plugins, wired by TOML pipeline files.
 This package holds the radpipe program, its plugins, ready pipelines and the demo model.")
# The shared libraries it links (LibTorch, OpenCV, GDCM, ...) come from dpkg-shlibdeps; these are
# the programs it runs when they are there.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${PROJECT_BINARY_DIR}/${CMAKE_INSTALL_LIBDIR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "gnuplot-nox, tesseract-ocr-eng")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME radpipe-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION "radpipe SDK: build plugins for radpipe
 Headers, CMake package (find_package(RadPipe), radpipe_add_plugin), the plugin template,
 the plugin vendor's guide, the stage reference and the SDK's API reference.
 A plugin must be built with the compiler, LibTorch and OpenCV radpipe was built with,
 which this package depends on.")
# The build fingerprint a plugin must match: compiler major version, LibTorch and OpenCV
# major.minor; the same radpipe release, whose SDK library the plugin links.
string(REGEX MATCH "^[0-9]+" radpipe_gcc_major "${CMAKE_CXX_COMPILER_VERSION}")
math(EXPR radpipe_torch_next "${Torch_VERSION_MINOR} + 1")
math(EXPR radpipe_opencv_next "${OpenCV_VERSION_MINOR} + 1")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "radpipe (= ${PROJECT_VERSION}-1), g++-${radpipe_gcc_major}, cmake (>= 3.25), \
libtorch-dev (>= ${Torch_VERSION_MAJOR}.${Torch_VERSION_MINOR}), libtorch-dev (<< ${Torch_VERSION_MAJOR}.${radpipe_torch_next}), \
libopencv-dev (>= ${OpenCV_VERSION_MAJOR}.${OpenCV_VERSION_MINOR}), libopencv-dev (<< ${OpenCV_VERSION_MAJOR}.${radpipe_opencv_next})")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "libgtest-dev, ninja-build, doxygen")
include(CPack)
