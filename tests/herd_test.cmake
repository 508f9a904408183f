# Test helpers shared by tests/ and the tests beside each plugin. Included from the top level
# before plugins/ so plugin folders can declare their tests with herd_test().
set(HERD_FIXTURE_DIR ${PROJECT_BINARY_DIR}/tests/abi/fixtures)

add_library(herd_catch_main STATIC ${CMAKE_CURRENT_LIST_DIR}/catch_main.cpp)
target_link_libraries(herd_catch_main PUBLIC Catch2::Catch2)

add_library(herd_test_support STATIC ${CMAKE_CURRENT_LIST_DIR}/support/support.cpp
  ${CMAKE_CURRENT_LIST_DIR}/support/http_client.cpp ${CMAKE_CURRENT_LIST_DIR}/support/prometheus.cpp
  ${CMAKE_CURRENT_LIST_DIR}/support/etcd_server.cpp ${CMAKE_CURRENT_LIST_DIR}/support/tls.cpp
  ${CMAKE_CURRENT_LIST_DIR}/support/raw_http.cpp)
target_include_directories(herd_test_support PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(herd_test_support PUBLIC herd_catch_main)
target_compile_definitions(herd_test_support PRIVATE
  HERD_TEST_BINARY="$<TARGET_FILE:herd>"
  HERD_TEST_PLUGIN_DIR="${HERD_PLUGIN_OUTPUT_DIR}"
  HERD_TEST_FIXTURE_DIR="${HERD_FIXTURE_DIR}"
  HERD_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  HERD_TEST_BUILD_DIR="${PROJECT_BINARY_DIR}")

# herd_test(<name> SOURCES ... [LIBS ...] [LABELS ...])
function(herd_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE herd_test_support ${ARG_LIBS})
  add_dependencies(${name} herd sd_file kv_sqlite)
  # A test whose name CTest mangles (a ';' splits it) would match nothing and "pass": make that fail.
  catch_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 300
    FAIL_REGULAR_EXPRESSION "No test cases matched|No tests ran")
endfunction()


# Protocol doubles for servers Debian does not package (Consul, Kubernetes, Marathon): each follows
# ../shared/reference exactly and has its own tests (tests/doubles/*_test.cpp).
find_package(nlohmann_json REQUIRED)
add_library(herd_test_doubles STATIC
  ${CMAKE_CURRENT_LIST_DIR}/doubles/http_double.cpp
  ${CMAKE_CURRENT_LIST_DIR}/doubles/consul_double.cpp
  ${CMAKE_CURRENT_LIST_DIR}/doubles/k8s_double.cpp
  ${CMAKE_CURRENT_LIST_DIR}/doubles/marathon_double.cpp)
target_include_directories(herd_test_doubles PUBLIC ${CMAKE_CURRENT_LIST_DIR}/doubles)
find_package(OpenSSL REQUIRED)
target_link_libraries(herd_test_doubles PUBLIC nlohmann_json::nlohmann_json Boost::headers Threads::Threads OpenSSL::Crypto)
