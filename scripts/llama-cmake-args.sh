#!/usr/bin/env bash
# Prints the CMAKE_ARGS that llama-cpp-python is built with (scripts/fresh.sh and the README's
# GPU-server steps use it): a portable x86-64 build with AMX off and AVX-512 on where this CPU
# has it. llama.cpp's AMX kernels crash on quantized GGUFs (ggml-org/llama.cpp#20824), and
# -march=native (GGML_NATIVE, the default) turns them on on every Sapphire Rapids or newer Xeon.
# Extra flags (e.g. -DGGML_CUDA=ON on a GPU server) come from SYNAPSE_LLAMA_CMAKE_EXTRA.
set -euo pipefail
args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
if [ "$(uname -m)" = x86_64 ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  has() { [[ " $flags " == *" $1 "* ]]; }
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 \
              avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 avx512vbmi:AVX512_VBMI avx_vnni:AVX_VNNI; do
    if has "${pair%%:*}"; then args+=" -DGGML_${pair#*:}=ON"; else args+=" -DGGML_${pair#*:}=OFF"; fi
  done
fi
echo "$args${SYNAPSE_LLAMA_CMAKE_EXTRA:+ $SYNAPSE_LLAMA_CMAKE_EXTRA}"
