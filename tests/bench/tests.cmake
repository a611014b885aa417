# Benchmarks (tests/bench/bench.sh): sign_bench (the token layer) and
# issue_bench (raw C_Sign, the naive OpenSSL+libp11 loop, hkms's library
# issuance). Speed is measured, never asserted; the quick run below is a
# ctest (label bench) so the harness cannot rot.
add_executable(sign_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/sign_bench.c)
target_link_libraries(sign_bench hkms_hsm Threads::Threads)
add_executable(issue_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/issue_bench.c)
target_include_directories(issue_bench PRIVATE ${P11KIT_INCLUDE_DIRS})
target_link_libraries(issue_bench hkms_ops PkgConfig::LIBP11
	${CMAKE_DL_LIBS} Threads::Threads)
# https_load: the HTTP(S) load generator of the serve, cfssl steps
# (libcurl multi; optional: without libcurl the bench skips those steps)
pkg_check_modules(LIBCURL IMPORTED_TARGET libcurl)
if(LIBCURL_FOUND)
	add_executable(https_load ${CMAKE_CURRENT_SOURCE_DIR}/bench/https_load.c)
	target_link_libraries(https_load PkgConfig::LIBCURL m)
	set(HKMS_HTTPS_LOAD_ENV "HKMS_HTTPS_LOAD=$<TARGET_FILE:https_load>")
	add_test(NAME bench_https_load COMMAND bash
		${CMAKE_CURRENT_SOURCE_DIR}/bench/https_load_test.sh)
	set_tests_properties(bench_https_load PROPERTIES LABELS "bench"
		ENVIRONMENT "${HKMS_HTTPS_LOAD_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 120)
else()
	set(HKMS_HTTPS_LOAD_ENV "HKMS_HTTPS_LOAD=")
endif()
# the full run (10 s per HTTP step, a few minutes): cmake --build build --target bench
add_custom_target(bench COMMAND ${CMAKE_COMMAND} -E env HKMS_BUILD=${CMAKE_BINARY_DIR}
	bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench.sh
	WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} USES_TERMINAL)
add_dependencies(bench hkms issue_bench)
if(LIBCURL_FOUND)
	add_dependencies(bench https_load)
endif()
if(HKMS_ENABLE_E2E)
	add_test(NAME bench_quick COMMAND bash
		${CMAKE_CURRENT_SOURCE_DIR}/bench/bench.sh --quick --json)
	set_tests_properties(bench_quick PROPERTIES LABELS "bench"
		ENVIRONMENT "${HKMS_TEST_ENV};HKMS_ISSUE_BENCH=$<TARGET_FILE:issue_bench>;${HKMS_HTTPS_LOAD_ENV}"
		SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE)
endif()
