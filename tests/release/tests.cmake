# The shipped binary has no test hooks (issue 10, item 8): a build with
# HKMS_TEST_HOOKS=OFF ignores HKMS_CA_TEST_SERIAL and HKMS_STORE_CRASH_AT.
# In a test build (hooks ON) the script first builds just the hkms target
# without hooks in <build>/release-nohooks (incremental after the first
# run); in a build without hooks it checks the build's own binary. Not
# registered in sanitizer or fuzz trees: the plain tree covers it.
if(HKMS_ENABLE_E2E AND TARGET hkms AND NOT HKMS_SANITIZE AND NOT HKMS_FUZZ)
	add_test(NAME release_test_hooks_off COMMAND bash
		${CMAKE_CURRENT_SOURCE_DIR}/release/test_hooks_off.sh)
	set_tests_properties(release_test_hooks_off PROPERTIES
		ENVIRONMENT "${HKMS_TEST_ENV}"
		SKIP_RETURN_CODE 77 LABELS "release" TIMEOUT 900)
endif()
