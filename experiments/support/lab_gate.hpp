// lab_gate.hpp: Gate, a poll future on which any number of duet tasks park
// (intrusive waiter nodes, no allocation per waiter) until it opens.
#pragma once

#include <duet/duet.hpp>

#include "lab.hpp"

namespace lab {

/// A gate: tasks park on it (GateWait) until open() wakes them all.
/// Each waiter's node lives inside its future (in the coroutine frame, the
/// fiber stack or the poll task): parking allocates nothing.
class Gate {
 public:
  struct Node {
    Node* next = nullptr;
    duet::Waker waker;
  };

  /// True when the caller must park (node linked), false when open.
  bool park(Node& n, const duet::Waker& w) {
    std::lock_guard<std::mutex> lk(m_);
    if (open_) return false;
    n.waker = w;
    n.next = head_;
    head_ = &n;
    parked_.fetch_add(1, std::memory_order_release);
    return true;
  }
  [[nodiscard]] bool is_open() {
    std::lock_guard<std::mutex> lk(m_);
    return open_;
  }
  void open() {
    Node* list;
    {
      std::lock_guard<std::mutex> lk(m_);
      open_ = true;
      list = head_;
      head_ = nullptr;
    }
    while (list != nullptr) {
      Node* next = list->next;  // read before the wake: the node may die
      duet::Waker w = std::move(list->waker);
      std::move(w).wake();
      list = next;
    }
  }
  [[nodiscard]] long parked() const { return parked_.load(std::memory_order_acquire); }
  void wait_parked(long n) const {
    while (parked() < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

 private:
  std::mutex m_;
  bool open_ = false;
  Node* head_ = nullptr;
  std::atomic<long> parked_{0};
};

/// Poll future: pending until the gate opens.
struct GateWait {
  Gate* gate;
  Gate::Node node{};
  bool linked = false;
  explicit GateWait(Gate* g) : gate(g) {}
  GateWait(GateWait&& o) noexcept : gate(o.gate) {}  // moved before linking only
  duet::Poll<void> poll(duet::Context& cx) {
    if (linked) {
      return gate->is_open() ? duet::Poll<void>(duet::ready()) : duet::Poll<void>(duet::pending);
    }
    linked = gate->park(node, cx.waker());
    return linked ? duet::Poll<void>(duet::pending) : duet::Poll<void>(duet::ready());
  }
};

}  // namespace lab
