# TPM 2.0 tests (label "tpm"): a private swtpm + tpm2-abrmd + tpm2-pkcs11 token
# from hsm/scripts/tpm-token.sh. Each test skips (77) when swtpm & co are missing.
# Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
add_executable(tpm_sign ${CMAKE_CURRENT_SOURCE_DIR}/tpm/tpm_sign.c)
target_link_libraries(tpm_sign hkms_hsm)
foreach(t token hkms_cli recovery serve)
	add_test(NAME tpm_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tpm/${t}.sh)
	set_tests_properties(tpm_${t} PROPERTIES
		ENVIRONMENT "${HKMS_TEST_ENV};HKMS_TPM_SIGN=$<TARGET_FILE:tpm_sign>"
		SKIP_RETURN_CODE 77 LABELS "tpm" TIMEOUT 300 RUN_SERIAL TRUE)
endforeach()
