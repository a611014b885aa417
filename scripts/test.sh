#!/bin/sh
# The whole test suite: install what is missing, build, run ctest; then the
# same suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
# HKMS_TEST_QUICK=1 skips the sanitizer pass.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 900)
if [ -z "${HKMS_TEST_QUICK:-}" ]; then
	BUILD_DIR=build-asan ./scripts/build.sh -DHKMS_SANITIZE=ON
	# verify_asan_link_order=0: fiu-run preloads libfiu ahead of the ASan runtime
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:verify_asan_link_order=0"
	export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	(cd build-asan && ctest --output-on-failure -j2 --timeout 900 -LE tpm)
fi
echo "test.sh: all tests passed"
