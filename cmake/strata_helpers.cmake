# Small functions so that each CMakeLists.txt reads as a list of targets.

# strata_require_package(<package> <debian packages>)
# find_package(<package> CONFIG) or stop with the Debian package to install.
macro(strata_require_package package debian)
  find_package(${package} CONFIG QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR
      "strata needs ${package}, which was not found. "
      "On Debian or Ubuntu: apt-get install ${debian}")
  endif()
endmacro()

# Warnings every strata target compiles with; errors with STRATA_WERROR.
function(strata_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
      -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
    if(STRATA_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# strata_add_library(<name> SOURCES ... DEPS ...)
# A library target strata_<name> with the alias strata::<name>, its headers in
# <dir>/include, installed and exported.
function(strata_add_library name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS" ${ARGN})
  add_library(strata_${name} ${arg_SOURCES})
  add_library(strata::${name} ALIAS strata_${name})
  set_target_properties(strata_${name} PROPERTIES
    EXPORT_NAME ${name}
    OUTPUT_NAME strata_${name}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    # Shared strata libraries find each other where they are installed.
    INSTALL_RPATH "$ORIGIN")
  target_compile_features(strata_${name} PUBLIC cxx_std_20)
  target_include_directories(strata_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(strata_${name} PUBLIC ${arg_DEPS})
  strata_set_warnings(strata_${name})
  install(TARGETS strata_${name} EXPORT strata_targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# strata_add_test(<name> SOURCES ... [DEPS ...] [LABELS ...])
# A GoogleTest executable registered with CTest, one test per TEST().
function(strata_add_test name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE strata_testing ${arg_DEPS} GTest::gtest_main GTest::gmock)
  strata_set_warnings(${name})
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT 300 LABELS "${arg_LABELS}")
endfunction()

# strata_add_example(<name> SOURCES ...)
function(strata_add_example name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(example_${name} ${arg_SOURCES})
  target_link_libraries(example_${name} PRIVATE strata::pmr strata::adapters ${arg_DEPS})
  strata_set_warnings(example_${name})
  if(STRATA_BUILD_TESTS)
    add_test(NAME example_${name} COMMAND example_${name})
    set_tests_properties(example_${name} PROPERTIES TIMEOUT 120 LABELS example)
  endif()
endfunction()
