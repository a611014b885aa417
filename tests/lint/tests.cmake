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
