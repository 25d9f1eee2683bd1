# stamp_bpf_skeleton(TARGET SOURCE [SOURCE...] [NAME NAME])
#
# Compiles each BPF C file with clang -target bpf into an object of its own,
# links the objects into one (bpftool gen object, libbpf's static linker:
# extern maps and functions of one unit resolve to another's definitions),
# turns that into a bpftool skeleton header (NAME.skel.h; NAME defaults to
# the first file's name without .bpf.c) and exposes it as an INTERFACE
# library TARGET. A single SOURCE is not linked: its object is the
# skeleton's. Binaries that link TARGET embed the object through the
# skeleton; nothing loads a .o from disk at run time.
#
# Order: a unit that defines a map must come before every unit that
# declares it extern. libbpf 1.1's linker (Debian 12) otherwise keeps the
# extern's place in .maps, and opening the object fails with "map relo
# failed to find map for section '.maps'". Functions may be resolved in
# either direction.

find_program(STAMP_CLANG NAMES clang clang-14 REQUIRED)
find_program(STAMP_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE STAMP_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT STAMP_MULTIARCH)
  set(STAMP_MULTIARCH "x86_64-linux-gnu")
endif()

function(stamp_bpf_skeleton target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAME" "")
  set(srcs ${arg_UNPARSED_ARGUMENTS})
  list(GET srcs 0 src)
  get_filename_component(file ${src} NAME)
  string(REGEX REPLACE "\\.bpf\\.c$" "" name ${file})
  if(arg_NAME)
    set(name ${arg_NAME})
  endif()
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(objs)
  foreach(one ${srcs})
    get_filename_component(one_abs ${one} ABSOLUTE)
    get_filename_component(one_file ${one} NAME)
    # One directory per skeleton: a unit linked into two objects is
    # compiled for each.
    string(REGEX REPLACE "\\.c$" ".o" one_obj ${outdir}/${name}.units/${one_file})
    add_custom_command(
      OUTPUT ${one_obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}/${name}.units
      COMMAND ${STAMP_CLANG} -target bpf -mcpu=v3 -g -O2 -Wall -Werror
              -D__TARGET_ARCH_x86
              -I${PROJECT_SOURCE_DIR}/bpf -I/usr/include/${STAMP_MULTIARCH}
              -MD -MF ${one_obj}.d
              -c ${one_abs} -o ${one_obj}
      DEPFILE ${one_obj}.d
      DEPENDS ${one_abs}
      COMMENT "BPF ${one_file}"
      VERBATIM)
    list(APPEND objs ${one_obj})
  endforeach()
  list(LENGTH objs nobjs)
  if(nobjs EQUAL 1)
    set(obj ${objs})
  else()
    set(obj ${outdir}/${name}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${STAMP_BPFTOOL} gen object ${obj} ${objs}
      DEPENDS ${objs}
      COMMENT "BPF link ${name}.bpf.o"
      VERBATIM)
  endif()
  set(skel ${outdir}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${STAMP_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS ${skel})
  add_library(${target} INTERFACE)
  # The generated skeleton is not ours to keep warning-free: -isystem.
  target_include_directories(${target} SYSTEM INTERFACE ${outdir})
  target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/bpf)
  add_dependencies(${target} ${target}_gen)
endfunction()
