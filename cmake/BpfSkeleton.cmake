# stamp_bpf_skeleton(TARGET SOURCE)
#
# Compiles one BPF C file with clang -target bpf, turns the object into a
# bpftool skeleton header (NAME.skel.h, NAME = file name without .bpf.c) and
# exposes it as an INTERFACE library TARGET. Binaries that link TARGET embed
# the object through the skeleton; nothing loads a .o from disk at run time.

find_program(STAMP_CLANG NAMES clang clang-14 REQUIRED)
find_program(STAMP_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE STAMP_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT STAMP_MULTIARCH)
  set(STAMP_MULTIARCH "x86_64-linux-gnu")
endif()

function(stamp_bpf_skeleton target src)
  get_filename_component(src_abs ${src} ABSOLUTE)
  get_filename_component(file ${src} NAME)
  string(REGEX REPLACE "\\.bpf\\.c$" "" name ${file})
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${outdir}/${name}.bpf.o)
  set(skel ${outdir}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}
    COMMAND ${STAMP_CLANG} -target bpf -mcpu=v3 -g -O2 -Wall -Werror
            -D__TARGET_ARCH_x86
            -I${PROJECT_SOURCE_DIR}/bpf -I/usr/include/${STAMP_MULTIARCH}
            -MD -MF ${obj}.d
            -c ${src_abs} -o ${obj}
    DEPFILE ${obj}.d
    DEPENDS ${src_abs}
    COMMENT "BPF ${file}"
    VERBATIM)
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
