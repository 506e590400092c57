# One small function per kind of target. Targets are named after their folder:
# libs/pg -> meridian_pg (alias meridian::pg).

# meridian_library(NAME SRCS ... DEPS ...)
function(meridian_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(meridian_${name} ${ARG_SRCS})
  add_library(meridian::${name} ALIAS meridian_${name})
  target_include_directories(meridian_${name} PUBLIC ${PROJECT_SOURCE_DIR}
                                                     ${PROJECT_BINARY_DIR})
  target_link_libraries(meridian_${name} PUBLIC ${ARG_DEPS})
endfunction()

# meridian_test(NAME SRCS ... DEPS ... [LABELS ...])
# Registers a GoogleTest binary with ctest. Tests labelled `integration` talk to
# the real PostgreSQL / Kafka started by `tools/meridian up`.
function(meridian_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# meridian_fuzz_target(NAME SRCS ... DEPS ...)
# A libFuzzer entry point (LLVMFuzzerTestOneInput) fed by the seed corpus
# tests/fuzz/corpus/NAME. In the fuzzer build (MERIDIAN_SANITIZE=fuzzer,
# clang) it links libFuzzer and joins the `fuzz_targets` target that
# tools/meridian fuzz builds and runs. In every other build it links
# tests/fuzz/replay_main.cc instead, and ctest (NAME_replay) runs it over the
# corpus: the seeds and every reproducer kept there stay passing.
function(meridian_fuzz_target name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  if(MERIDIAN_SANITIZE STREQUAL "fuzzer")
    add_executable(${name} EXCLUDE_FROM_ALL ${ARG_SRCS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    if(NOT TARGET fuzz_targets)
      add_custom_target(fuzz_targets)
    endif()
    add_dependencies(fuzz_targets ${name})
  else()
    add_executable(${name} ${ARG_SRCS} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cc)
    add_test(NAME ${name}_replay COMMAND ${name} ${corpus})
    set_tests_properties(${name}_replay PROPERTIES LABELS "unit;fuzz" TIMEOUT 120)
  endif()
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# meridian_binary(NAME SRCS ... DEPS ...)
# Binaries allocate through tcmalloc (see MeridianDependencies.cmake), except
# under a sanitizer, whose own allocator must see every allocation.
function(meridian_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  if(MERIDIAN_SANITIZE STREQUAL "")
    target_link_libraries(${name} PRIVATE PkgConfig::TCMALLOC)
  endif()
endfunction()

# meridian_proto_library(NAME PROTOS ... [GRPC] [ROOT dir] [DEPS ...])
# PROTOS are paths relative to ROOT (default ${PROJECT_SOURCE_DIR}/proto); generated code lands
# in ${PROJECT_BINARY_DIR}/proto with the same relative path, so sources include
# "meridian/<domain>/v1/<file>.pb.h".
function(meridian_proto_library name)
  cmake_parse_arguments(ARG "GRPC" "ROOT" "PROTOS;DEPS" ${ARGN})
  set(proto_root ${PROJECT_SOURCE_DIR}/proto)
  if(ARG_ROOT)
    set(proto_root ${ARG_ROOT})
  endif()
  set(out_root ${PROJECT_BINARY_DIR}/proto)
  set(srcs)
  foreach(proto ${ARG_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(outs ${out_root}/${base}.pb.cc ${out_root}/${base}.pb.h)
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outs ${out_root}/${base}.grpc.pb.cc ${out_root}/${base}.grpc.pb.h)
      set(plugin_args --grpc_out=${out_root}
                      --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_root}
      COMMAND protobuf::protoc --proto_path=${proto_root}
              --cpp_out=${out_root} ${plugin_args} ${proto_root}/${proto}
      DEPENDS ${proto_root}/${proto} protobuf::protoc
      COMMENT "protoc ${proto}")
    list(APPEND srcs ${outs})
  endforeach()
  add_library(meridian_${name} ${srcs})
  add_library(meridian::${name} ALIAS meridian_${name})
  target_include_directories(meridian_${name} PUBLIC ${out_root})
  target_link_libraries(meridian_${name} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(meridian_${name} PUBLIC gRPC::grpc++)
  endif()
  target_compile_options(meridian_${name} PRIVATE -Wno-unused-parameter)
endfunction()

# meridian_sql_migrations(NAME COMPONENT <component> DIR <dir>)
# Embeds every <dir>/NNNN_<name>.sql into a library exposing
#   const std::vector<meridian::pg::Migration>& <Symbol>();
# where Symbol is given by FUNCTION. The migrator (libs/pg) applies them in
# version order and records their checksums.
function(meridian_sql_migrations name)
  cmake_parse_arguments(ARG "" "DIR;NAMESPACE;FUNCTION" "" ${ARGN})
  file(GLOB sql_files CONFIGURE_DEPENDS ${ARG_DIR}/*.sql)
  list(SORT sql_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}_migrations.cc)
  # A CMake list would split into several arguments: pass it "|"-separated.
  string(REPLACE ";" "|" sql_files_arg "${sql_files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${ARG_NAMESPACE}
            -DFUNCTION=${ARG_FUNCTION} "-DFILES=${sql_files_arg}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    COMMENT "embedding migrations for ${name}"
    VERBATIM)
  add_library(meridian_${name} ${out})
  add_library(meridian::${name} ALIAS meridian_${name})
  target_link_libraries(meridian_${name} PUBLIC meridian::pg)
endfunction()
