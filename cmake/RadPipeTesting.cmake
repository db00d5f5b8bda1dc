# radpipe_add_unit_test(NAME SOURCES... LIBRARIES...): a GoogleTest executable registered with
# CTest. Tests learn where the sources, the shared data and the built tree are through
# compile definitions, so that they use real files and never depend on the working directory.
function(radpipe_add_unit_test name)
  if(NOT RADPIPE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBRARIES;LABELS")
  add_executable(${name} ${arg_SOURCES} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main radpipe_warnings ${arg_LIBRARIES})
  target_compile_definitions(${name} PRIVATE
    RADPIPE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    RADPIPE_BINARY_DIR="${PROJECT_BINARY_DIR}"
    RADPIPE_SHARED_DIR="${RADPIPE_SHARED_DIR}"
    RADPIPE_PLUGIN_DIR="${RADPIPE_PLUGIN_OUTPUT_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests")
  set(labels unit ${arg_LABELS})
  # One CTest entry per binary, not per test case: each process start costs LibTorch's ~1.3 s
  # initialisation, which per case would dominate the suite's time.
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT 900)
endfunction()
