# hkms' token layer under injected PKCS#11 faults (the shim of tests/shim).
add_executable(test_faults ${CMAKE_CURRENT_SOURCE_DIR}/faults/test_faults.c)
target_link_libraries(test_faults hkms_hsm PkgConfig::CMOCKA
	PkgConfig::JANSSON Threads::Threads)
add_test(NAME faults_hsm COMMAND test_faults)
set_tests_properties(faults_hsm PROPERTIES LABELS "faults" TIMEOUT 300
	ENVIRONMENT "P11SHIM_LIB=$<TARGET_FILE:p11shim>")

# The CLI through the shim: nothing recorded without a token signature.
if(HKMS_ENABLE_E2E)
	add_test(NAME faults_sign COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults/sign_faults.sh)
	set_tests_properties(faults_sign PROPERTIES LABELS "faults" TIMEOUT 300
		SKIP_RETURN_CODE 77
		ENVIRONMENT "${HKMS_TEST_ENV};P11SHIM_LIB=$<TARGET_FILE:p11shim>")
	add_test(NAME faults_keygen_readback COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults/keygen_readback.sh)
	set_tests_properties(faults_keygen_readback PROPERTIES LABELS "faults" TIMEOUT 120
		SKIP_RETURN_CODE 77
		ENVIRONMENT "${HKMS_TEST_ENV};P11SHIM_LIB=$<TARGET_FILE:p11shim>")
endif()
