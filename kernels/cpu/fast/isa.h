// Instruction-set levels of the fast CPU kernels, chosen at run time.
//
// The binary runs on any x86-64 (and builds elsewhere): each level's kernels live in their own
// translation unit (*_avx2.cpp, *_avx512.cpp, compiled with their -m flags by CMakeLists.txt;
// *_portable.cpp with the baseline flags), and nothing compiled for a level runs unless the CPU
// reports it. The active level is the best the CPU supports, lowered by the environment
// variable CTV_CPU_ISA (portable | avx2 | avx512, read once) or by set_cpu_isa (tests, bench).
#pragma once
#include <string>
#include <vector>

namespace ctv::kernels::fast {

enum class CpuIsa { portable = 0, avx2 = 1, avx512 = 2 };

// "portable", "avx2" (AVX2 + FMA), "avx512" (AVX-512 F).
const char* cpu_isa_name(CpuIsa isa);

// ensures: the best level this CPU and OS support (portable when not on x86-64).
CpuIsa cpu_isa_detected();

// Every level this machine can run, lowest first (always starts with portable).
std::vector<CpuIsa> cpu_isas_available();

// The level the fast kernels use now. ensures: <= cpu_isa_detected().
// throws: std::invalid_argument at the first call when CTV_CPU_ISA names no level or one this
//         CPU lacks (the message names the variable and the levels available).
CpuIsa cpu_isa();

// requires: isa <= cpu_isa_detected() (std::invalid_argument otherwise); not called while a
//           kernel runs. ensures: cpu_isa() == isa.
void set_cpu_isa(CpuIsa isa);

// Parses "portable" / "avx2" / "avx512". throws: std::invalid_argument naming `what`.
CpuIsa parse_cpu_isa(const std::string& text, const char* what);

}  // namespace ctv::kernels::fast
