add_executable(test_hsm ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_hsm.c)
target_link_libraries(test_hsm hkms_hsm PkgConfig::CMOCKA Threads::Threads)
add_test(NAME unit_hsm COMMAND test_hsm)
set_tests_properties(unit_hsm PROPERTIES LABELS "unit" TIMEOUT 300)
