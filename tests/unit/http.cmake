# Unit tests of the server's token side (src/http: TLS signatures through
# the service, the service certificate, health, metrics, sealed/unseal) on
# a real SoftHSM2 token made by the init operation.
if(TARGET hkms_http)
	add_executable(test_http_server
		${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http_server.c)
	target_link_libraries(test_http_server hkms_http PkgConfig::CMOCKA
		Threads::Threads)
	add_test(NAME unit_http_server COMMAND test_http_server)
	set_tests_properties(unit_http_server PROPERTIES LABELS "unit"
		TIMEOUT 300 ENVIRONMENT "${HKMS_TEST_ENV}")
endif()
if(TARGET hkms_http)
	find_program(VALGRIND valgrind)
	if(VALGRIND)
		add_test(NAME unit_http_server_memcheck COMMAND ${VALGRIND} -q
			--leak-check=full --errors-for-leak-kinds=definite
			--error-exitcode=99
			--suppressions=${CMAKE_CURRENT_SOURCE_DIR}/memcheck/valgrind.supp
			$<TARGET_FILE:test_http_server>)
		set_tests_properties(unit_http_server_memcheck PROPERTIES
			LABELS "memcheck" TIMEOUT 1200
			ENVIRONMENT "${HKMS_TEST_ENV}")
	endif()
endif()
