# deps.cmake - turns the Debian packages nmleak builds on into CMake targets (nothing is downloaded).
# third_party/install-deps.sh installs the packages.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(mimalloc 2.0 REQUIRED CONFIG)
pkg_check_modules(LIBDW REQUIRED IMPORTED_TARGET libdw)
pkg_check_modules(LIBUNWIND REQUIRED IMPORTED_TARGET libunwind)
pkg_check_modules(LIBPCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
find_package(nlohmann_json 3 REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)

if(NMLEAK_BUILD_GUI)
  pkg_check_modules(GLFW REQUIRED IMPORTED_TARGET glfw3)
  find_package(OpenGL REQUIRED)
  # Dear ImGui ships no backends as a library: compile the GLFW and OpenGL3 ones from the package's
  # sources. --static brings -lstb along.
  pkg_check_modules(IMGUI_STATIC REQUIRED imgui)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --static --libs imgui
                  OUTPUT_VARIABLE _imgui_static_libs OUTPUT_STRIP_TRAILING_WHITESPACE)
  separate_arguments(_imgui_static_libs UNIX_COMMAND "${_imgui_static_libs}")
  set(IMGUI_BACKEND_DIR /usr/share/doc/libimgui-dev/examples/backends)
  add_library(nm_imgui STATIC
    ${IMGUI_BACKEND_DIR}/imgui_impl_glfw.cpp
    ${IMGUI_BACKEND_DIR}/imgui_impl_opengl3.cpp)
  target_include_directories(nm_imgui SYSTEM PUBLIC /usr/include/imgui /usr/include/imgui/backends)
  target_compile_options(nm_imgui PRIVATE -w)
  target_link_libraries(nm_imgui PUBLIC ${_imgui_static_libs} PkgConfig::GLFW OpenGL::GL ${CMAKE_DL_LIBS})
endif()

if(NMLEAK_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(NMLEAK_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
