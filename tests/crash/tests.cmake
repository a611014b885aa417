# Crash and fault-injection tests for the file store (label "crash").
# Each script gets the driver's path; exit 77 = skipped (tool missing).
add_executable(store_crash_driver
	${CMAKE_CURRENT_SOURCE_DIR}/crash/store_crash_driver.c)
target_link_libraries(store_crash_driver hkms_store)
foreach(t store_crash store_faults store_enospc)
	add_test(NAME crash_${t} COMMAND bash
		${CMAKE_CURRENT_SOURCE_DIR}/crash/${t}.sh
		$<TARGET_FILE:store_crash_driver>)
	set_tests_properties(crash_${t} PROPERTIES LABELS "crash"
		ENVIRONMENT "${HKMS_TEST_ENV}"
		SKIP_RETURN_CODE 77 TIMEOUT 1200)
endforeach()

# The real CLI killed with SIGKILL mid-write (needs the hkms binary).
if(HKMS_ENABLE_E2E)
	add_test(NAME crash_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/crash/cli_crash.sh)
	set_tests_properties(crash_cli PROPERTIES LABELS "crash"
		ENVIRONMENT "${HKMS_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 1200)
	# reservations and the group commit: a 4-thread issuer killed
	add_test(NAME crash_gc COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/crash/gc_crash.sh)
	set_tests_properties(crash_gc PROPERTIES LABELS "crash"
		ENVIRONMENT "${HKMS_TEST_ENV};HKMS_ISSUE_BENCH=$<TARGET_FILE:issue_bench>"
		SKIP_RETURN_CODE 77 TIMEOUT 1200)
endif()
