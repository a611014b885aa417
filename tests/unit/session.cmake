# Unit tests of TOTP (RFC 6238 vectors, src/ops/totp.c) and the session
# table (src/ops/session.c), issue 16a: no token needed.
if(TARGET hkms_ops)
	add_executable(test_session ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_session.c)
	target_link_libraries(test_session hkms_ops PkgConfig::CMOCKA)
	add_test(NAME unit_session COMMAND test_session)
	set_tests_properties(unit_session PROPERTIES LABELS "unit" TIMEOUT 120
		ENVIRONMENT "${HKMS_TEST_ENV}")
endif()
