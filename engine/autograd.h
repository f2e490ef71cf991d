// Reverse-mode automatic differentiation.
//
// Model:
// - A Var is a shared handle to {value, grad, requires_grad, grad_fn}. Copies of a Var are the
//   same variable. Leaves (parameters, data) have no grad_fn.
// - Every op (engine/ops.h) that runs while grad mode is on and has an input that requires
//   grad creates one Node: it holds its inputs (strong references) and whatever it saved for
//   its backward. The output Var holds the Node. Nothing else holds either: there is no global
//   list, so a graph lives exactly as long as the Vars that reach it.
// - backward(root) walks the graph once to build the tape (the nodes in reverse topological
//   order) and replays it: each node turns its output's grad into its inputs' grads.
// - In inference mode (InferenceMode guard) or with grad mode off, ops create no Node, so an
//   activation is freed as soon as the last Var holding it goes (reference counting).
//
// Gradient contract:
// - Var::grad() ACCUMULATES across backward calls and across the uses of a Var inside one
//   graph: grad += contribution. The first contribution to an undefined grad is adopted (moved
//   in, no zero-fill and no add): "overwrite" in that case only.
// - Node::backward returns fresh contributions (one per input); it OVERWRITES nothing that the
//   engine owns and never accumulates itself: all accumulation happens in one place here.
// - Non-leaf Vars keep no grad unless retain_grad() was called; then their grad accumulates
//   like a leaf's (it is a copy: what flows through the graph is always this pass's gradient).
// - Without retain_graph, backward frees each node's saved tensors and inputs after it runs;
//   a second backward through a freed node throws std::logic_error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ctv {

class Node;

struct VarData {
  Tensor value;
  Tensor grad;  // undefined until a backward reaches this Var
  bool requires_grad = false;
  bool retain_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  std::string name;
};

class Var {
 public:
  Var() = default;  // undefined: defined() == false (e.g. "no bias")
  // ensures: a leaf holding `value` (shared, not copied).
  explicit Var(Tensor value, bool requires_grad = false, std::string name = {});
  // A leaf that requires grad (a trainable parameter).
  static Var parameter(Tensor value, std::string name = {});

  bool defined() const { return d_ != nullptr; }
  // requires: defined() for every accessor below (checked: std::logic_error).
  const Tensor& value() const;
  Tensor& value();  // optimisers update parameters in place through this
  const Tensor& grad() const;
  Tensor& grad();
  bool has_grad() const;
  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }
  Device device() const { return value().device(); }
  bool requires_grad() const;
  bool is_leaf() const;
  const std::string& name() const;
  void set_name(std::string name);
  const std::shared_ptr<Node>& grad_fn() const;

  // ensures: grad() undefined (memory released; the next backward adopts its contribution).
  void zero_grad();
  // Keep this non-leaf Var's grad after backward (for inspection and tests).
  void retain_grad();
  // ensures: a new leaf sharing the value (no copy) with no history and requires_grad false.
  Var detach() const;

  bool same(const Var& o) const { return d_ == o.d_; }
  VarData* data() const { return d_.get(); }
  // Internal (ops): a non-leaf Var made by `fn`.
  static Var from_op(Tensor value, std::shared_ptr<Node> fn);

 private:
  std::shared_ptr<VarData> d_;
};

// One recorded op application (single output). Subclasses live beside their ops.
class Node {
 public:
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // requires: dy dense, same shape and dtype as the output.
  // ensures: one Tensor per input in inputs(): the contribution d<output, dy>/d input, dense,
  //          freshly allocated (or a view the engine will copy), undefined where the input
  //          does not require grad. Never writes into any Var's grad.
  virtual std::vector<Tensor> backward(const Tensor& dy) = 0;
  // Drops saved tensors (called after this node ran, unless the graph is retained).
  virtual void release_saved() {}

  const std::vector<Var>& inputs() const { return inputs_; }
  bool released() const { return released_; }
  // Whether input i needs a contribution.
  bool needs_grad(std::size_t i) const;

  // Internal (engine).
  void set_inputs(std::vector<Var> inputs) { inputs_ = std::move(inputs); }
  void release();

 private:
  std::vector<Var> inputs_;
  bool released_ = false;
};

// Grad mode: on by default, per thread.
bool grad_mode_enabled();

// RAII: while alive (on this thread), ops record nothing, so activations are freed as soon
// as their last Var goes. Nests; restores the previous mode on destruction.
class InferenceMode {
 public:
  InferenceMode();
  ~InferenceMode();
  InferenceMode(const InferenceMode&) = delete;
  InferenceMode& operator=(const InferenceMode&) = delete;

 private:
  bool previous_;
};

// Internal (ops): true when an op with these inputs must record a Node.
bool should_record(std::initializer_list<const Var*> inputs);
bool should_record(const std::vector<Var>& inputs);

struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors so backward can run again
};

// requires: root.defined(), root.value().numel() == 1 (checked: std::invalid_argument).
// ensures: seeds d root = 1 and runs the tape; leaves that require grad get their grads
//          accumulated (see the contract above).
void backward(const Var& root, BackwardOptions options = {});
// requires: seed has root's shape and dtype (checked). ensures: as above with d root = seed
//           (the vector-Jacobian product <root, seed>); used by gradient checks.
void backward(const Var& root, const Tensor& seed, BackwardOptions options = {});

}  // namespace ctv
