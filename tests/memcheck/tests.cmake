# The CLI end-to-end tests with every hkms run under valgrind memcheck: no
# definite leak, no invalid access (exit 99 from valgrind fails the test).
find_program(VALGRIND valgrind)
if(VALGRIND AND NOT HKMS_SANITIZE AND HKMS_ENABLE_E2E)
	# the heaviest CSR/cert suites are left out to keep CI under 20 minutes;
	# security_scan runs csr, self-sign, import and export, ca_revoke and
	# ca_client CA signing, revocation, CRLs and client PKCS#12s
	foreach(t keys key_errors security_scan cli_output ca_revoke ca_client)
		add_test(NAME memcheck_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.sh)
		set_tests_properties(memcheck_${t} PROPERTIES
			ENVIRONMENT "${HKMS_TEST_ENV};HKMS_WRAP=${VALGRIND} -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/memcheck/valgrind.supp"
			SKIP_RETURN_CODE 77 LABELS "memcheck" TIMEOUT 1200)
	endforeach()
endif()
