# The web console's browser tests (issue 16b): every tests/ui/test_*.py is
# ctest ui_<name>, run with /usr/bin/python3 (python3-selenium) against a
# real server and headless Chromium (tests/ui/harness.py). They write the
# managed Chromium policy, so they never run at the same time
# (RESOURCE_LOCK; across worktrees the harness also holds a flock); 77 =
# skipped (no chromium, chromedriver or selenium).
if(HKMS_ENABLE_E2E AND TARGET hkms)
	file(GLOB HKMS_UI_TESTS CONFIGURE_DEPENDS
		${CMAKE_CURRENT_SOURCE_DIR}/ui/test_*.py)
	foreach(f ${HKMS_UI_TESTS})
		get_filename_component(n ${f} NAME_WE)
		string(REGEX REPLACE "^test_" "" n ${n})
		add_test(NAME ui_${n} COMMAND /usr/bin/python3 ${f})
		set_tests_properties(ui_${n} PROPERTIES
			ENVIRONMENT "${HKMS_TEST_ENV};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}/ui;PYTHONDONTWRITEBYTECODE=1"
			LABELS "ui;e2e" RESOURCE_LOCK chromium_policy
			SKIP_RETURN_CODE 77 TIMEOUT 600)
	endforeach()
endif()
