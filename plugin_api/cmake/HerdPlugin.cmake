# herd_add_plugin(<name> [OUTPUT_DIRECTORY dir] <sources>...)
# Builds <name>.so (no "lib" prefix) that exports only herd_plugin_entry: hidden visibility,
# a version script, and no undefined symbols (a plugin must not reach into the host).
set(HERD_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/herd_plugin.map" CACHE INTERNAL "")

function(herd_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "" ${ARGN})
  add_library(${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE herd::plugin_api)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${HERD_PLUGIN_VERSION_SCRIPT}")
  target_link_options(${name} PRIVATE
    "LINKER:--version-script=${HERD_PLUGIN_VERSION_SCRIPT}"
    "LINKER:--no-undefined")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
endfunction()
