# Unit test of the web console's file routes (src/http/routes_ui.c and the
# table cmake/EmbedUi.cmake makes of ui/), issue 16b: no socket, no token.
if(TARGET hkms_http)
	add_executable(test_ui_routes ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ui_routes.c)
	target_link_libraries(test_ui_routes hkms_http PkgConfig::CMOCKA)
	add_test(NAME unit_ui_routes COMMAND test_ui_routes)
	set_tests_properties(unit_ui_routes PROPERTIES LABELS "unit" TIMEOUT 120
		ENVIRONMENT "${HKMS_TEST_ENV}")
endif()
