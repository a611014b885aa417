#!/bin/sh
# The whole test suite: install what is missing, build, run ctest; then the
# same suite again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the libFuzzer targets for a bounded time (clang).
# HKMS_TEST_QUICK=1 skips the sanitizer and fuzz passes. The sanitizer pass
# leaves out the slow suites (minutes each), the interop ones (certbot,
# lego, dehydrated, pebble) and the console's headless-Chromium ones (ui);
# the plain pass runs them.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# the token layer is the only code that talks PKCS#11 (STYLE.md)
if grep -rlE '#include *[<"](libp11\.h|p11-kit/pkcs11\.h|pkcs11\.h)' src include; then
	echo "test.sh: PKCS#11 headers included outside hsm/ (files above)"; exit 1
fi
# the CLI reaches the token and the store only through the service and ops
if grep -rlE '#include *"hkms/(hsm|store)\.h"' src/cli; then
	echo "test.sh: the CLI includes hsm.h or store.h (files above)"; exit 1
fi
# the suite needs the test hooks (crash points, forced serials); the
# shipped binary (scripts/run.sh, a plain cmake build) has none
./scripts/build.sh -DHKMS_TEST_HOOKS=ON
(cd build && ctest --output-on-failure -j2 --timeout 900)
if [ -z "${HKMS_TEST_QUICK:-}" ]; then
	BUILD_DIR=build-asan ./scripts/build.sh -DHKMS_SANITIZE=ON -DHKMS_TEST_HOOKS=ON
	# verify_asan_link_order=0: fiu-run preloads libfiu ahead of the ASan runtime
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:verify_asan_link_order=0"
	export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	(cd build-asan && ctest --output-on-failure -j2 --timeout 900 -LE 'tpm|memcheck|slow|interop|ui')
	# libFuzzer: every parser of outside input for a bounded time
	# (HKMS_FUZZ_SECONDS each, default 25; docs/fuzzing.md)
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DHKMS_FUZZ=ON -DHKMS_TEST_HOOKS=ON -DHKMS_FUZZ_SECONDS="${HKMS_FUZZ_SECONDS:-25}" >/dev/null
	cmake --build build-fuzz -j"$(nproc)" --target fuzzers
	(cd build-fuzz && ctest --output-on-failure -j2 -L '^fuzz$')
fi
echo "test.sh: all tests passed"
