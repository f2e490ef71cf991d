// Run-time choice of the fast kernels' instruction-set level (see isa.h).
#include "kernels/cpu/fast/isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace ctv::kernels::fast {

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::portable:
      return "portable";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::avx512:
      return "avx512";
  }
  return "?";
}

CpuIsa cpu_isa_detected() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // libgcc's cpu model also checks that the OS saves the ymm/zmm state (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return CpuIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::avx2;
#endif
  return CpuIsa::portable;
}

std::vector<CpuIsa> cpu_isas_available() {
  std::vector<CpuIsa> out;
  for (int i = 0; i <= static_cast<int>(cpu_isa_detected()); ++i)
    out.push_back(static_cast<CpuIsa>(i));
  return out;
}

CpuIsa parse_cpu_isa(const std::string& text, const char* what) {
  for (CpuIsa isa : {CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512})
    if (text == cpu_isa_name(isa)) {
      if (isa > cpu_isa_detected())
        throw std::invalid_argument(std::string(what) + " = '" + text +
                                    "': this CPU supports up to '" +
                                    cpu_isa_name(cpu_isa_detected()) + "'");
      return isa;
    }
  throw std::invalid_argument(std::string(what) + " = '" + text +
                              "' is not a level (portable, avx2, avx512)");
}

namespace {

std::atomic<int> g_isa{-1};  // -1: not chosen yet

CpuIsa initial_isa() {
  if (const char* env = std::getenv("CTV_CPU_ISA"); env && *env)
    return parse_cpu_isa(env, "CTV_CPU_ISA");
  return cpu_isa_detected();
}

}  // namespace

CpuIsa cpu_isa() {
  int v = g_isa.load();
  if (v < 0) {
    v = static_cast<int>(initial_isa());
    g_isa.store(v);
  }
  return static_cast<CpuIsa>(v);
}

void set_cpu_isa(CpuIsa isa) {
  if (isa > cpu_isa_detected())
    throw std::invalid_argument(std::string("set_cpu_isa: '") + cpu_isa_name(isa) +
                                "' is not supported by this CPU (best: '" +
                                cpu_isa_name(cpu_isa_detected()) + "')");
  g_isa.store(static_cast<int>(isa));
}

}  // namespace ctv::kernels::fast
