add_executable(test_store ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c)
target_link_libraries(test_store hkms_store PkgConfig::CMOCKA Threads::Threads)
# the record template of the group commit (store_int.h) is tested here too
target_include_directories(test_store PRIVATE ${PROJECT_SOURCE_DIR}/src/store)
add_test(NAME unit_store COMMAND test_store)
set_tests_properties(unit_store PROPERTIES LABELS "unit" TIMEOUT 120)
