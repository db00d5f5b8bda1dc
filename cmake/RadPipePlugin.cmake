# radpipe_add_plugin(NAME SOURCES... [LIBRARIES...]): builds a radpipe plugin library,
# `libradpipe-NAME.so`. Used by the plugins in this tree and, through find_package(RadPipe), by
# plugins built outside it. Only the entry symbol is exported; everything else stays private to
# the plugin. Installed into RADPIPE_PLUGIN_INSTALL_DIR; it finds the radpipe SDK library two
# folders up, and its own shared libraries in RADPIPE_PLUGIN_LIBS_INSTALL_DIR/NAME.
function(radpipe_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBRARIES")
  set(sources ${arg_SOURCES} ${arg_UNPARSED_ARGUMENTS})
  set(target radpipe_plugin_${name})
  add_library(${target} MODULE ${sources})
  target_link_libraries(${target} PRIVATE RadPipe::sdk ${arg_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME radpipe-${name}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    # lib/radpipe/plugins/ -> lib/ (libradpipe-sdk.so) and lib/radpipe/libs/NAME/ (the plugin's own).
    INSTALL_RPATH "$ORIGIN/../..;$ORIGIN/../libs/${name}")
  if(DEFINED RADPIPE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${RADPIPE_PLUGIN_OUTPUT_DIR}")
  endif()
  if(TARGET radpipe_warnings)
    target_link_libraries(${target} PRIVATE radpipe_warnings)
  endif()
  set_property(GLOBAL APPEND PROPERTY RADPIPE_PLUGIN_TARGETS ${target})
  if(DEFINED RADPIPE_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${RADPIPE_PLUGIN_INSTALL_DIR}")
  endif()
endfunction()
