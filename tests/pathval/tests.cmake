# pathgen: one chain per path rule (issue 14b) for e2e_trust_pathrules
add_executable(pathgen ${CMAKE_CURRENT_SOURCE_DIR}/pathval/pathgen.c)
target_link_libraries(pathgen PRIVATE PkgConfig::OPENSSL)
list(APPEND HKMS_TEST_ENV "HKMS_PATHGEN=$<TARGET_FILE:pathgen>")
