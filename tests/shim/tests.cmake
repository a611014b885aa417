# Fault-injecting PKCS#11 shim (docs/shim.md).  Included from
# tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
set(P11SHIM_DIR ${CMAKE_CURRENT_SOURCE_DIR}/shim)

add_library(p11shim MODULE ${P11SHIM_DIR}/p11shim.c)
if(P11KIT_INCLUDE_DIRS)
	target_include_directories(p11shim PRIVATE ${P11KIT_INCLUDE_DIRS})
else()
	target_include_directories(p11shim PRIVATE /usr/include/p11-kit-1)
endif()
set_target_properties(p11shim PROPERTIES
	C_VISIBILITY_PRESET hidden
	POSITION_INDEPENDENT_CODE ON)
# -z defs: a missing library must fail the link, not the first dlopen.
target_link_options(p11shim PRIVATE -Wl,-z,defs)
target_link_libraries(p11shim PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
# The shim is loaded into uninstrumented programs too (pkcs11-tool), so it is
# never built with sanitizers: an ASan module in a plain process aborts.
target_compile_options(p11shim PRIVATE -fno-sanitize=all)
target_link_options(p11shim PRIVATE -fno-sanitize=all)

# A scriptable long-running PKCS#11 client for the tests below.
add_executable(p11shim_drv ${P11SHIM_DIR}/shimdrv.c)
if(P11KIT_INCLUDE_DIRS)
	target_include_directories(p11shim_drv PRIVATE ${P11KIT_INCLUDE_DIRS})
else()
	target_include_directories(p11shim_drv PRIVATE /usr/include/p11-kit-1)
endif()
target_link_libraries(p11shim_drv PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)

foreach(t passthrough faults)
	add_test(NAME shim_${t} COMMAND bash ${P11SHIM_DIR}/${t}.sh)
	set_tests_properties(shim_${t} PROPERTIES
		ENVIRONMENT "P11SHIM_LIB=$<TARGET_FILE:p11shim>;P11SHIM_DRV=$<TARGET_FILE:p11shim_drv>"
		SKIP_RETURN_CODE 77 LABELS "faults" TIMEOUT 300)
endforeach()
