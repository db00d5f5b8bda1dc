# RADPIPE_CUDA: build the host against a LibTorch with CUDA (docs/distributed.md, "GPU"). Off by
# default: the Debian LibTorch this project builds with has none. Sets RADPIPE_WITH_CUDA and
# RADPIPE_WITH_NCCL for host/CMakeLists.txt, which turns them into compile definitions.
option(RADPIPE_CUDA "Build against a LibTorch with CUDA (e.g. a Python torch wheel's: -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)'))" OFF)
set(RADPIPE_WITH_CUDA OFF)
set(RADPIPE_WITH_NCCL OFF)

# Gives `target` (with `scope`: PUBLIC, PRIVATE) what this configuration found: RADPIPE_WITH_CUDA
# and RADPIPE_WITH_NCCL, and NCCL's headers and library. USE_C10D_* are the guards of LibTorch's
# own c10d headers, which not every LibTorch's CMake package exports.
function(radpipe_target_cuda target scope)
  if(RADPIPE_WITH_CUDA)
    target_compile_definitions(${target} ${scope} RADPIPE_WITH_CUDA USE_C10D_GLOO)
  endif()
  if(RADPIPE_WITH_NCCL)
    target_compile_definitions(${target} ${scope} RADPIPE_WITH_NCCL USE_C10D_NCCL)
    target_include_directories(${target} SYSTEM ${scope} "${RADPIPE_NCCL_INCLUDE_DIR}")
    if(RADPIPE_NCCL_LIBRARY)
      target_link_libraries(${target} ${scope} "${RADPIPE_NCCL_LIBRARY}")
    endif()
  endif()
endfunction()
if(NOT RADPIPE_CUDA)
  message(STATUS "radpipe: CUDA off (RADPIPE_CUDA=OFF; LibTorch ${Torch_VERSION} from ${Torch_DIR})")
  return()
endif()

# A CUDA LibTorch defines the torch_cuda target (TorchConfig.cmake, through Caffe2Targets).
if(NOT TARGET torch_cuda)
  message(FATAL_ERROR
    "RADPIPE_CUDA=ON, but the LibTorch found in ${Torch_DIR} (version ${Torch_VERSION}) was built without CUDA "
    "(no torch_cuda target). Point CMake at a CUDA LibTorch, for example the one inside a Python torch wheel:\n"
    "  cmake -DRADPIPE_CUDA=ON -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') ...\n"
    "or configure with -DRADPIPE_CUDA=OFF to build for the CPU.")
endif()
set(RADPIPE_WITH_CUDA ON)

# NCCL: LibTorch's ProcessGroupNCCL header, and nccl.h, which it includes. A torch wheel keeps
# nccl.h in the nvidia-nccl wheel beside it (site-packages/nvidia/nccl/include).
find_file(RADPIPE_PROCESS_GROUP_NCCL_HEADER torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp
  PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
get_filename_component(radpipe_torch_site_packages "${Torch_DIR}/../../../.." ABSOLUTE)
set(radpipe_nccl_hints ENV NCCL_ROOT ENV NCCL_HOME "${radpipe_torch_site_packages}/nvidia/nccl" "${radpipe_torch_site_packages}/nvidia/cu13"
    "${radpipe_torch_site_packages}/nvidia/cu12")
find_path(RADPIPE_NCCL_INCLUDE_DIR nccl.h HINTS ${radpipe_nccl_hints} ${CUDAToolkit_INCLUDE_DIRS} ${CUDA_INCLUDE_DIRS} PATH_SUFFIXES include)
# libtorch_cuda holds ProcessGroupNCCL; the library itself is linked too, for NCCL calls inlined from its headers.
find_library(RADPIPE_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${radpipe_nccl_hints} PATH_SUFFIXES lib lib64)
if(RADPIPE_PROCESS_GROUP_NCCL_HEADER AND RADPIPE_NCCL_INCLUDE_DIR)
  set(RADPIPE_WITH_NCCL ON)
  message(STATUS "radpipe: CUDA on (LibTorch ${Torch_VERSION} from ${Torch_DIR}); NCCL on (nccl.h in ${RADPIPE_NCCL_INCLUDE_DIR})")
else()
  message(STATUS "radpipe: CUDA on (LibTorch ${Torch_VERSION} from ${Torch_DIR}); NCCL off "
                 "(ProcessGroupNCCL.hpp: ${RADPIPE_PROCESS_GROUP_NCCL_HEADER}; nccl.h: ${RADPIPE_NCCL_INCLUDE_DIR}; "
                 "set NCCL_ROOT to the folder holding include/nccl.h): distributed training on CUDA devices is refused")
endif()
