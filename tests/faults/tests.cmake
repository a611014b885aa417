# hkms' token layer under injected PKCS#11 faults (the shim of tests/shim).
add_executable(test_faults ${CMAKE_CURRENT_SOURCE_DIR}/faults/test_faults.c)
target_link_libraries(test_faults hkms_hsm PkgConfig::CMOCKA
	PkgConfig::JANSSON Threads::Threads)
add_test(NAME faults_hsm COMMAND test_faults)
set_tests_properties(faults_hsm PROPERTIES LABELS "faults" TIMEOUT 300
	ENVIRONMENT "P11SHIM_LIB=$<TARGET_FILE:p11shim>")
