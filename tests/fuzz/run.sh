#!/usr/bin/env bash
# Fuzz one hkms target with libFuzzer for a bounded time.
#
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#
# TARGET is a name from tests/fuzz/tests.cmake (cert_parse, csr, pkcs12,
# config, profile, subject_san, store_record, audit_verify, trust).
# Needs a fuzz build (docs/fuzzing.md):
#   CC=clang cmake -S . -B build-fuzz -DHKMS_FUZZ=ON -DHKMS_WERROR=OFF
#   cmake --build build-fuzz -j2 --target fuzzers
# Environment: HKMS_FUZZ_BUILD (default <repo>/build-fuzz),
#   HKMS_FUZZ_BIN (the binary; default $HKMS_FUZZ_BUILD/tests/fuzz_TARGET),
#   HKMS_FUZZ_WORK (default $HKMS_FUZZ_BUILD/fuzz-work),
#   HKMS_FUZZ_JOBS (parallel fuzzing processes, default 1).
# The seed corpus tests/fuzz/corpus/TARGET is read only; new inputs go to
# $HKMS_FUZZ_WORK/TARGET/corpus, crashes/leaks/timeouts to
# $HKMS_FUZZ_WORK/TARGET/{crash,leak,timeout,oom}-*. Exit status is
# libFuzzer's: 0 when nothing was found.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 TARGET SECONDS [libFuzzer options...]" >&2
	exit 2
fi
target=$1
secs=$2
shift 2

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${HKMS_FUZZ_BUILD:-$repo/build-fuzz}
bin=${HKMS_FUZZ_BIN:-$build/tests/fuzz_$target}
work=${HKMS_FUZZ_WORK:-$build/fuzz-work}/$target
seeds=$here/corpus/$target
jobs=${HKMS_FUZZ_JOBS:-1}

if [ ! -x "$bin" ]; then
	echo "$0: no fuzz binary $bin (build with -DHKMS_FUZZ=ON)" >&2
	exit 2
fi
if [ ! -d "$seeds" ]; then
	echo "$0: no seed corpus $seeds" >&2
	exit 2
fi
mkdir -p "$work/corpus"

# Dictionaries, when present, help the text formats.
dict=()
if [ -f "$here/$target.dict" ]; then
	dict=(-dict="$here/$target.dict")
fi

# OpenSSL keeps a few allocations until exit; leaks are still reported
# (detect_leaks=1) for everything freed by our code paths.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cd "$work"
par=()
if [ "$jobs" -gt 1 ]; then
	par=(-fork="$jobs" -ignore_crashes=0)
fi
exec "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
	-print_final_stats=1 \
	-artifact_prefix="$work/" "${dict[@]}" "${par[@]}" "$@" \
	"$work/corpus" "$seeds"
