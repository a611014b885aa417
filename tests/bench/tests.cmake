# Benchmarks are built with the project and run by hand (tests/bench/bench.sh);
# they are never ctests: speed is measured, not asserted.
add_executable(sign_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/sign_bench.c)
target_link_libraries(sign_bench hkms_hsm Threads::Threads)
