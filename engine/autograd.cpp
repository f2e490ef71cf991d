// Reverse-mode tape: built from the graph at backward() time and replayed once.
// Accumulation rule (the only place grads are written): first contribution adopted, later ones
// added with kernels::ref::add_inplace. See engine/autograd.h for the full contract.
#include "engine/autograd.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops_dispatch.h"

namespace ctv {

// ---- Var ----------------------------------------------------------------------------------

Var::Var(Tensor value, bool requires_grad, std::string name) : d_(std::make_shared<VarData>()) {
  if (!value.defined()) throw std::invalid_argument("Var: value tensor is undefined");
  if (requires_grad && !is_floating(value.dtype()))
    throw std::invalid_argument(std::string("Var: a ") + dtype_name(value.dtype()) +
                                " tensor cannot require grad");
  d_->value = std::move(value);
  d_->requires_grad = requires_grad;
  d_->name = std::move(name);
}

Var Var::parameter(Tensor value, std::string name) {
  return Var(std::move(value), true, std::move(name));
}

Var Var::from_op(Tensor value, std::shared_ptr<Node> fn) {
  Var v(std::move(value), fn != nullptr);
  v.d_->grad_fn = std::move(fn);
  return v;
}

namespace {
[[noreturn]] void undefined_var() {
  throw std::logic_error("Var: access to an undefined Var (no tensor behind it)");
}
}  // namespace

const Tensor& Var::value() const {
  if (!d_) undefined_var();
  return d_->value;
}
Tensor& Var::value() {
  if (!d_) undefined_var();
  return d_->value;
}
const Tensor& Var::grad() const {
  if (!d_) undefined_var();
  return d_->grad;
}
Tensor& Var::grad() {
  if (!d_) undefined_var();
  return d_->grad;
}
bool Var::has_grad() const { return d_ && d_->grad.defined(); }
bool Var::requires_grad() const { return d_ && d_->requires_grad; }
bool Var::is_leaf() const { return !d_ || d_->grad_fn == nullptr; }
const std::string& Var::name() const {
  if (!d_) undefined_var();
  return d_->name;
}
void Var::set_name(std::string name) {
  if (!d_) undefined_var();
  d_->name = std::move(name);
}
const std::shared_ptr<Node>& Var::grad_fn() const {
  if (!d_) undefined_var();
  return d_->grad_fn;
}
void Var::zero_grad() {
  if (d_) d_->grad = Tensor();
}
void Var::retain_grad() {
  if (!d_) undefined_var();
  d_->retain_grad = true;
}
Var Var::detach() const { return Var(value(), false, d_->name); }

// ---- Node ---------------------------------------------------------------------------------

bool Node::needs_grad(std::size_t i) const {
  return i < inputs_.size() && inputs_[i].requires_grad();
}

void Node::release() {
  release_saved();
  inputs_.clear();
  released_ = true;
}

// ---- grad mode ----------------------------------------------------------------------------

namespace {
thread_local bool t_grad_mode = true;
}

bool grad_mode_enabled() { return t_grad_mode; }

InferenceMode::InferenceMode() : previous_(t_grad_mode) { t_grad_mode = false; }
InferenceMode::~InferenceMode() { t_grad_mode = previous_; }

bool should_record(std::initializer_list<const Var*> inputs) {
  if (!t_grad_mode) return false;
  for (const Var* v : inputs)
    if (v && v->requires_grad()) return true;
  return false;
}

bool should_record(const std::vector<Var>& inputs) {
  if (!t_grad_mode) return false;
  for (const Var& v : inputs)
    if (v.requires_grad()) return true;
  return false;
}

// ---- backward -----------------------------------------------------------------------------

namespace {

void accumulate(VarData& v, Tensor contribution) {
  if (contribution.shape() != v.value.shape() || contribution.dtype() != v.value.dtype())
    throw std::logic_error("backward: gradient " + contribution.describe() + " for a value " +
                           v.value.describe());
  if (!v.grad.defined()) {
    // Adopt: a view (e.g. a channel range of another grad) is copied so it owns its storage.
    v.grad = contribution.is_contiguous() ? std::move(contribution) : contribution.clone();
    return;
  }
  dispatch::add_inplace(v.grad, contribution.contiguous());
}

// Reverse topological order of the non-leaf Vars reachable from root (iterative DFS, so deep
// graphs cannot overflow the stack): the tape. It holds the Vars (shared), so releasing a
// node's inputs cannot free a Var the tape has yet to visit; each entry is dropped once run.
std::vector<Var> build_tape(const Var& root) {
  std::vector<Var> post;
  std::unordered_set<VarData*> seen;
  struct Frame {
    Var v;
    std::size_t next;
  };
  std::vector<Frame> stack;
  if (root.grad_fn()) {
    stack.push_back({root, 0});
    seen.insert(root.data());
  }
  while (!stack.empty()) {
    Frame& f = stack.back();
    const auto& ins = f.v.grad_fn()->inputs();
    if (f.next < ins.size()) {
      const Var& in = ins[f.next++];
      if (in.defined() && in.grad_fn() && in.requires_grad() && seen.insert(in.data()).second)
        stack.push_back({in, 0});
      continue;
    }
    post.push_back(std::move(f.v));
    stack.pop_back();
  }
  return {std::make_move_iterator(post.rbegin()), std::make_move_iterator(post.rend())};
}

void run_backward(const Var& root, Tensor seed, BackwardOptions options) {
  if (!root.requires_grad())
    throw std::invalid_argument(
        "backward: the root does not require grad (no parameter reaches it, or it was computed "
        "in inference mode)");
  std::vector<Var> tape = build_tape(root);
  for (const Var& v : tape)
    if (v.grad_fn()->released())
      throw std::logic_error(std::string("backward: the graph through '") + v.grad_fn()->name() +
                             "' was already freed by an earlier backward (use retain_graph)");
  // This pass's gradients of non-leaf Vars, apart from any retained (accumulated) grad, so a
  // retained grad from an earlier pass never flows again. Leaves accumulate directly.
  std::unordered_map<VarData*, Tensor> flow;
  auto deliver = [&flow](VarData& v, Tensor g) {
    if (v.grad_fn) {
      auto [it, fresh] = flow.try_emplace(&v);
      if (fresh && !g.is_contiguous()) g = g.clone();
      if (fresh)
        it->second = std::move(g);
      else
        dispatch::add_inplace(it->second, g.contiguous());
    } else {
      accumulate(v, std::move(g));
    }
  };
  deliver(*root.data(), std::move(seed));
  for (Var& entry : tape) {
    VarData* v = entry.data();
    Node& fn = *v->grad_fn;
    auto it = flow.find(v);
    if (it != flow.end()) {  // else no path from the root carried a gradient here
      const Tensor dy = std::move(it->second);
      flow.erase(it);
      std::vector<Tensor> grads = fn.backward(dy);
      const auto& ins = fn.inputs();
      if (grads.size() != ins.size())
        throw std::logic_error(std::string("backward: node '") + fn.name() + "' returned " +
                               std::to_string(grads.size()) + " gradients for " +
                               std::to_string(ins.size()) + " inputs");
      for (std::size_t i = 0; i < ins.size(); ++i)
        if (grads[i].defined() && ins[i].requires_grad()) {
          const Tensor& want = ins[i].value();
          if (grads[i].shape() != want.shape() || grads[i].dtype() != want.dtype())
            throw std::logic_error(std::string("backward: node '") + fn.name() +
                                   "' returned gradient " + grads[i].describe() + " for input " +
                                   want.describe());
          deliver(*ins[i].data(), std::move(grads[i]));
        }
      if (v->retain_grad) accumulate(*v, v->grad.defined() ? dy : dy.clone());
    }
    if (!options.retain_graph) fn.release();
    entry = Var();
  }
}

}  // namespace

void backward(const Var& root, BackwardOptions options) {
  if (!root.defined()) throw std::invalid_argument("backward: undefined root");
  if (root.value().numel() != 1)
    throw std::invalid_argument("backward: the root " + root.value().describe() +
                                " is not a scalar; pass a seed gradient");
  backward(root, Tensor::full(root.shape(), 1.0, root.dtype(), root.device()), options);
}

void backward(const Var& root, const Tensor& seed, BackwardOptions options) {
  if (!root.defined()) throw std::invalid_argument("backward: undefined root");
  if (seed.shape() != root.shape() || seed.dtype() != root.dtype())
    throw std::invalid_argument("backward: seed " + seed.describe() + " for root " +
                                root.value().describe());
  run_backward(root, seed.clone(), options);
}

}  // namespace ctv
