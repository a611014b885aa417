add_executable(p11attr ${CMAKE_CURRENT_SOURCE_DIR}/tools/p11attr.c)
target_include_directories(p11attr PRIVATE ${P11KIT_INCLUDE_DIRS})
target_link_libraries(p11attr PRIVATE ${CMAKE_DL_LIBS})

# http_routes: the server's route tables as JSON, for lint_api_routes
if(TARGET hkms_http)
	add_executable(http_routes ${CMAKE_CURRENT_SOURCE_DIR}/tools/http_routes.c)
	target_link_libraries(http_routes PRIVATE hkms_http)
endif()
