add_executable(test_x509 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_x509.c)
target_link_libraries(test_x509 hkms_x509 PkgConfig::CMOCKA)
target_compile_definitions(test_x509 PRIVATE
	HKMS_X509_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/profiles")
add_test(NAME unit_x509 COMMAND test_x509)
set_tests_properties(unit_x509 PROPERTIES LABELS "unit")
