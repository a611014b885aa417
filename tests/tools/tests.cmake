add_executable(p11attr ${CMAKE_CURRENT_SOURCE_DIR}/tools/p11attr.c)
target_include_directories(p11attr PRIVATE ${P11KIT_INCLUDE_DIRS})
target_link_libraries(p11attr PRIVATE ${CMAKE_DL_LIBS})
