#!/usr/bin/env bash
# What decides the bits of csm's floating-point results on this machine: the
# CPU's vector instruction sets (csm is built with -march=native), the
# compiler and OpenBLAS. Golden outputs are compared bit for bit only where
# this matches the fingerprint they were made under.
set -uo pipefail
echo "isa: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512f|avx512bw|avx512vl|avx2|fma|f16c)$' | sort | tr '\n' ' ')"
echo "cc: $(${CC:-cc} --version 2>/dev/null | head -1)"
echo "openblas: $(dpkg-query -W -f '${Version}' libopenblas0-openmp 2>/dev/null)"
