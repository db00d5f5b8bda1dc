# cmake -DRADPIPE=BINARY -DDOCUMENT=docs/stages.md -DMODE=update|check -P StageDocs.cmake
# Generates the stage reference with `radpipe inspect --all --markdown` from the plugins beside the
# binary only (RADPIPE_PLUGIN_PATH is ignored), then writes it (update) or fails when the checked-in
# DOCUMENT differs (check).
unset(ENV{RADPIPE_PLUGIN_PATH})
execute_process(COMMAND "${RADPIPE}" -q inspect --all --markdown
  OUTPUT_VARIABLE generated ERROR_VARIABLE errors RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "radpipe inspect --all --markdown failed (${status}):\n${errors}")
endif()
if(errors)
  message(FATAL_ERROR "radpipe inspect --all --markdown reported problems (broken or insecure plugins?):\n${errors}")
endif()
if(MODE STREQUAL "update")
  file(WRITE "${DOCUMENT}" "${generated}")
  message(STATUS "wrote ${DOCUMENT}")
  return()
endif()
if(EXISTS "${DOCUMENT}")
  file(READ "${DOCUMENT}" current)
else()
  set(current "")
endif()
if(NOT current STREQUAL generated)
  string(RANDOM LENGTH 8 suffix)
  set(fresh "$ENV{TMPDIR}")
  if(NOT fresh)
    set(fresh "/tmp")
  endif()
  set(fresh "${fresh}/stages-${suffix}.md")
  file(WRITE "${fresh}" "${generated}")
  execute_process(COMMAND diff -u "${DOCUMENT}" "${fresh}" OUTPUT_VARIABLE difference)
  file(REMOVE "${fresh}")
  message(FATAL_ERROR "${DOCUMENT} is out of date with the stages' schemas. Regenerate it:\n"
                      "  cmake --build build --target update_stage_docs\n"
                      "and commit the result. The difference (checked in -> generated):\n${difference}")
endif()
message(STATUS "${DOCUMENT} matches the stages' schemas")
