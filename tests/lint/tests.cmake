# Source rules checked on every test run (label lint):
#  error_registry: every error code raised is in include/hkms/errors.def
#  with its rc; ops messages name request fields, not CLI flags or verbs.
#  layering: the CLI includes neither hsm.h nor store.h; ops never prints.
add_test(NAME lint_error_registry COMMAND perl
	${CMAKE_CURRENT_SOURCE_DIR}/lint/error_registry.pl ${CMAKE_SOURCE_DIR})
add_test(NAME lint_layering COMMAND sh
	${CMAKE_CURRENT_SOURCE_DIR}/lint/layering.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(lint_error_registry lint_layering PROPERTIES
	LABELS "lint;unit")

# api_routes: docs/api.yaml lists exactly the routes of the server's
# tables, with their clearance (tests/tools/http_routes prints them)
if(TARGET hkms_http)
	find_package(Python3 COMPONENTS Interpreter)
	add_test(NAME lint_api_routes COMMAND ${Python3_EXECUTABLE}
		${CMAKE_CURRENT_SOURCE_DIR}/lint/api_routes.py ${CMAKE_SOURCE_DIR}
		$<TARGET_FILE:http_routes>)
	set_tests_properties(lint_api_routes PROPERTIES LABELS "lint;unit")
endif()
