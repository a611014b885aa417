# Unit tests of clients and clearance (src/ops/clients.c, authz.c):
# authentication of presented chains and the authorization table, on a
# real SoftHSM2 token made by the init operation.
if(TARGET hkms_ops)
	add_executable(test_clients ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_clients.c)
	target_link_libraries(test_clients hkms_ops PkgConfig::CMOCKA)
	add_test(NAME unit_clients COMMAND test_clients)
	set_tests_properties(unit_clients PROPERTIES LABELS "unit" TIMEOUT 300
		ENVIRONMENT "${HKMS_TEST_ENV}")
endif()

# the clients' routes, called directly (no socket)
if(TARGET hkms_http)
	add_executable(test_routes_clients
		${CMAKE_CURRENT_SOURCE_DIR}/unit/test_routes_clients.c)
	target_link_libraries(test_routes_clients hkms_http PkgConfig::CMOCKA)
	add_test(NAME unit_routes_clients COMMAND test_routes_clients)
	set_tests_properties(unit_routes_clients PROPERTIES LABELS "unit"
		TIMEOUT 300 ENVIRONMENT "${HKMS_TEST_ENV}")
endif()
