# Unit tests of the service object (src/ops/service.c) on a real SoftHSM2
# token made by the init operation; the memcheck variant runs the same
# binary under valgrind (no definite leak, no invalid access; label
# memcheck, skipped by the ASan pass).
if(TARGET hkms_ops)
	add_executable(test_service ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_service.c)
	target_link_libraries(test_service hkms_ops PkgConfig::CMOCKA
		Threads::Threads)
	add_test(NAME unit_service COMMAND test_service)
	set_tests_properties(unit_service PROPERTIES LABELS "unit" TIMEOUT 300
		ENVIRONMENT "${HKMS_TEST_ENV}")
	find_program(VALGRIND valgrind)
	if(VALGRIND)
		add_test(NAME unit_service_memcheck COMMAND ${VALGRIND} -q
			--leak-check=full --errors-for-leak-kinds=definite
			--error-exitcode=99
			--suppressions=${CMAKE_CURRENT_SOURCE_DIR}/memcheck/valgrind.supp
			$<TARGET_FILE:test_service>)
		set_tests_properties(unit_service_memcheck PROPERTIES
			LABELS "memcheck" TIMEOUT 1200
			ENVIRONMENT "${HKMS_TEST_ENV}")
	endif()
endif()
