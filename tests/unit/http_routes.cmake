# Unit tests of the HTTPS face's routes (src/http/routes*.c, body.c):
# route matching and dispatch on a real SoftHSM2 token service, without a
# socket; the memcheck variant runs the same binary under valgrind (no
# definite leak, no invalid access; label memcheck).
if(TARGET hkms_http)
	add_executable(test_http_routes
		${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http_routes.c)
	target_link_libraries(test_http_routes hkms_http PkgConfig::CMOCKA)
	add_test(NAME unit_http_routes COMMAND test_http_routes)
	set_tests_properties(unit_http_routes PROPERTIES LABELS "unit"
		TIMEOUT 300 ENVIRONMENT "${HKMS_TEST_ENV}")
	find_program(VALGRIND valgrind)
	if(VALGRIND)
		add_test(NAME unit_http_routes_memcheck COMMAND ${VALGRIND} -q
			--leak-check=full --errors-for-leak-kinds=definite
			--error-exitcode=99
			--suppressions=${CMAKE_CURRENT_SOURCE_DIR}/memcheck/valgrind.supp
			$<TARGET_FILE:test_http_routes>)
		set_tests_properties(unit_http_routes_memcheck PROPERTIES
			LABELS "memcheck" TIMEOUT 1200
			ENVIRONMENT "${HKMS_TEST_ENV}")
	endif()
endif()
