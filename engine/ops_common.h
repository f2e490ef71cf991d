// Argument checks shared by the op implementations (internal to engine/ops_*.cpp). Errors
// name the op, the argument and the shapes, as a physicist reading a log needs.
#pragma once
#include <climits>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/autograd.h"

namespace ctv::detail {

[[noreturn]] inline void op_error(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

inline void require_defined(const char* op, const char* arg, const Var& v) {
  if (!v.defined()) op_error(op, std::string("argument '") + arg + "' is undefined");
}

inline void require_rank(const char* op, const char* arg, const Var& v, int rank) {
  require_defined(op, arg, v);
  if (v.value().rank() != rank)
    op_error(op, std::string("argument '") + arg + "' must have rank " + std::to_string(rank) +
                     ", got " + v.value().describe());
}

// Every defined Var in `args` is floating, of one dtype and on one device.
inline void require_same_kind(const char* op,
                              std::initializer_list<std::pair<const char*, const Var*>> args) {
  const std::pair<const char*, const Var*>* first = nullptr;
  for (const auto& a : args) {
    if (!a.second->defined()) continue;
    const Tensor& t = a.second->value();
    if (!is_floating(t.dtype()))
      op_error(op, std::string("argument '") + a.first + "' is " + t.describe() +
                       "; ops take f32 or f64");
    if (!first) {
      first = &a;
      continue;
    }
    const Tensor& f = first->second->value();
    if (t.dtype() != f.dtype() || t.device() != f.device())
      op_error(op, std::string("arguments '") + first->first + "' (" + f.describe() + ") and '" +
                       a.first + "' (" + t.describe() + ") differ in dtype or device");
  }
}

inline int as_int(const char* op, const char* what, std::int64_t v) {
  if (v > INT_MAX) op_error(op, std::string(what) + " " + std::to_string(v) + " is too large");
  return static_cast<int>(v);
}

}  // namespace ctv::detail
