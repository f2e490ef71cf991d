# Writes OUT from engine/version.h.in with the current commit; rewrites only on change.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
  OUTPUT_VARIABLE CTV_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
  OUTPUT_VARIABLE CTV_GIT_DIRTY OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT CTV_GIT_COMMIT)
  set(CTV_GIT_COMMIT "unknown")
elseif(CTV_GIT_DIRTY)
  set(CTV_GIT_COMMIT "${CTV_GIT_COMMIT}-dirty")
endif()
set(PROJECT_VERSION ${VERSION})
set(CMAKE_BUILD_TYPE ${BUILD_TYPE})
set(CMAKE_CUDA_ARCHITECTURES ${CUDA_ARCHS})
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "none")
endif()
configure_file(${SRC}/engine/version.h.in ${OUT}.tmp @ONLY)
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
