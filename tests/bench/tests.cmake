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
if(HKMS_ENABLE_E2E)
	add_test(NAME bench_quick COMMAND bash
		${CMAKE_CURRENT_SOURCE_DIR}/bench/bench.sh --quick --json)
	set_tests_properties(bench_quick PROPERTIES LABELS "bench"
		ENVIRONMENT "${HKMS_TEST_ENV};HKMS_ISSUE_BENCH=$<TARGET_FILE:issue_bench>"
		SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
