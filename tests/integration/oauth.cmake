# OAUTHBEARER end to end (NASA GCN Kafka's authentication): tomstreamd fetches client-credentials
# tokens from a token endpoint run by the test and consumes through the OAUTH listener of the
# "kafka" fixture broker (tests/kafka/broker.sh, env KAFKA_OAUTH). Included from
# tests/integration/CMakeLists.txt.

# tomstream_kafka_test() reads TOMSTREAM_KAFKA_ENV_FILE from the caller's scope; take it from
# tests/kafka when the including file has not already done so.
if(NOT TOMSTREAM_KAFKA_ENV_FILE)
  get_directory_property(TOMSTREAM_KAFKA_ENV_FILE
    DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/../kafka DEFINITION TOMSTREAM_KAFKA_ENV_FILE)
endif()

add_executable(oauth_test ${CMAKE_CURRENT_LIST_DIR}/oauth_test.cc)
target_link_libraries(oauth_test PRIVATE
  tomstream_test_process tomstream_test_kafka GTest::gtest_main nlohmann_json::nlohmann_json
  tomstream_warnings)
target_compile_definitions(oauth_test PRIVATE
  TOMSTREAMD_BIN="$<TARGET_FILE:tomstreamd>"
  TOMCTL_BIN="$<TARGET_FILE:tomctl>")
add_dependencies(oauth_test tomstreamd tomctl)
# Two cases, each well under a minute (tokens live 6 s).
tomstream_kafka_test(oauth_test TIMEOUT 300)
