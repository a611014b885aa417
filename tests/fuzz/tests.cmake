# Fuzz targets (docs/fuzzing.md). Each tests/fuzz/fuzz_<name>.c is a
# libFuzzer entry point (LLVMFuzzerTestOneInput) over one parser; its seeds
# and regression inputs are in tests/fuzz/corpus/<name>/.
#
# HKMS_FUZZ=ON (clang): each target links libFuzzer and gets a ctest
#   fuzz_<name> (label "fuzz") that fuzzes it for HKMS_FUZZ_SECONDS on its
#   corpus via tests/fuzz/run.sh; new inputs go to a writable corpus under
#   <build>/fuzz-work/<name>/, crashes to <build>/fuzz-work/<name>/crash-*.
# Otherwise (gcc, normal and ASan builds): each target links replay.c
#   instead, a main() that runs every corpus file once, and gets a ctest
#   fuzz_replay_<name> (label "fuzz-replay"). No libFuzzer needed.

set(HKMS_FUZZ_SECONDS 25 CACHE STRING
	"Seconds each fuzz target runs under ctest -L fuzz")

set(HKMS_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

# target -> libraries it needs
set(HKMS_FUZZ_TARGETS)
macro(hkms_fuzz_target name)
	set(_ok 1)
	foreach(lib ${ARGN})
		if(NOT TARGET ${lib})
			set(_ok 0)
		endif()
	endforeach()
	if(_ok)
		list(APPEND HKMS_FUZZ_TARGETS ${name})
		set(HKMS_FUZZ_LIBS_${name} ${ARGN})
	endif()
endmacro()

hkms_fuzz_target(cert_parse hkms_x509)
hkms_fuzz_target(csr hkms_x509)
hkms_fuzz_target(pkcs12 hkms_x509)
hkms_fuzz_target(config hkms_common)
hkms_fuzz_target(profile hkms_x509)
hkms_fuzz_target(subject_san hkms_x509)
hkms_fuzz_target(store_record hkms_store)
hkms_fuzz_target(audit_verify hkms_store)
hkms_fuzz_target(http_body hkms_http)
hkms_fuzz_target(http_route hkms_http)
# EST request bodies (issue 17b)
hkms_fuzz_target(est_body hkms_ops)
# OCSP requests (issue 14a)
hkms_fuzz_target(ocsp_request hkms_x509)
# truststore CRLs (issue 14a)
hkms_fuzz_target(crl hkms_x509)
hkms_fuzz_target(acme_jws hkms_ops)	# issue 17a
if(EXISTS ${CMAKE_SOURCE_DIR}/include/hkms/trust.h)
	hkms_fuzz_target(trust hkms_store)
endif()

if(HKMS_FUZZ)
	add_custom_target(fuzzers)
endif()

foreach(t ${HKMS_FUZZ_TARGETS})
	set(exe fuzz_${t})
	if(HKMS_FUZZ)
		add_executable(${exe} ${HKMS_FUZZ_DIR}/fuzz_${t}.c
			${HKMS_FUZZ_DIR}/fuzz_util.c)
		target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
		add_dependencies(fuzzers ${exe})
		add_test(NAME fuzz_${t} COMMAND bash ${HKMS_FUZZ_DIR}/run.sh
			${t} ${HKMS_FUZZ_SECONDS})
		math(EXPR _limit "${HKMS_FUZZ_SECONDS} * 2 + 60")
		set_tests_properties(fuzz_${t} PROPERTIES LABELS "fuzz"
			TIMEOUT ${_limit}
			ENVIRONMENT "HKMS_FUZZ_BIN=$<TARGET_FILE:${exe}>;HKMS_FUZZ_WORK=${CMAKE_BINARY_DIR}/fuzz-work")
	else()
		add_executable(${exe} ${HKMS_FUZZ_DIR}/fuzz_${t}.c
			${HKMS_FUZZ_DIR}/fuzz_util.c ${HKMS_FUZZ_DIR}/replay.c)
		add_test(NAME fuzz_replay_${t} COMMAND ${exe}
			${HKMS_FUZZ_DIR}/corpus/${t})
		# own leak suppressions, full stacks through libcrypto (see
		# lsan.supp); harmless without sanitizers
		set_tests_properties(fuzz_replay_${t} PROPERTIES
			LABELS "fuzz-replay" TIMEOUT 300
			ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:verify_asan_link_order=0;LSAN_OPTIONS=suppressions=${HKMS_FUZZ_DIR}/lsan.supp:print_suppressions=0")
	endif()
	target_include_directories(${exe} PRIVATE ${HKMS_FUZZ_DIR})
	if(t STREQUAL "acme_jws")	# issue 17a: src/ops/acme_int.h
		target_include_directories(${exe} PRIVATE
			${CMAKE_SOURCE_DIR}/src/ops)
	endif()
	if(t STREQUAL "csr")	# src/x509/x509_int.h: x509_set_pubkey
		target_include_directories(${exe} PRIVATE
			${CMAKE_SOURCE_DIR}/src/x509)
	endif()
	target_link_libraries(${exe} ${HKMS_FUZZ_LIBS_${t}})
endforeach()
