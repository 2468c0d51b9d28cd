// channel_fuzz: libFuzzer target that drives random sequences of channel
// operations (tier 1 and hand-polled tier-2 futures, select, cancellation by
// destruction, close) on two channels, single-threaded and deterministic,
// and checks the invariants:
//   - every value whose send completed ok is received exactly once (after a
//     final close and drain), and nothing else is ever received;
//   - a bounded channel never buffers more than its capacity, except for
//     values given back by receivers destroyed after being handed one;
//   - after close, every parked operation completes when re-polled, and
//     operations on the closed channel fail / report closed;
//   - no waker clone is leaked (the counting waker's references drop to 0).
// Memory errors are the sanitizers' job (built with ASan+UBSan).
//
// Build and run: tests/fuzz/run_fuzz.sh [seconds]
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "duet/channel/channel.hpp"
#include "duet/channel/select.hpp"

using namespace duet;

namespace {

struct CountingWaker {
  long refs = 0, wakes = 0;
  static void clone(void* d) { static_cast<CountingWaker*>(d)->refs++; }
  static void wake(void* d) {
    auto* w = static_cast<CountingWaker*>(d);
    w->wakes++;
    w->refs--;
  }
  static void wake_by_ref(void* d) { static_cast<CountingWaker*>(d)->wakes++; }
  static void drop(void* d) { static_cast<CountingWaker*>(d)->refs--; }
  static constexpr WakerVTable vt{&clone, &wake, &wake_by_ref, &drop};
};

#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      std::fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__); \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t next() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  bool done() const { return n == 0; }
};

using Sel = decltype(duet::select(std::declval<Channel<int>&>().recv(),
                                  std::declval<Channel<int>&>().send(0)));

struct Op {
  enum Kind { recv, send, sel } kind;
  int chan = 0;
  int value = 0;  // send: the value
  std::unique_ptr<Recv<int>> r;
  std::unique_ptr<Send<int>> s;
  std::unique_ptr<Sel> x;
  int sel_value = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  CountingWaker cw;
  Waker w = Waker::adopt(&cw, &CountingWaker::vt);
  Context cx(w);
  std::size_t caps[2];
  const std::size_t choice[4] = {0, 1, 3, SIZE_MAX};
  caps[0] = choice[in.next() % 4];
  caps[1] = choice[in.next() % 4];
  Channel<int> ch[2] = {
      caps[0] == SIZE_MAX ? Channel<int>::unbounded() : Channel<int>::bounded(caps[0]),
      caps[1] == SIZE_MAX ? Channel<int>::unbounded() : Channel<int>::bounded(caps[1])};
  bool closed[2] = {false, false};
  // Per value: 0 = not sent (failed or never offered), 1 = send completed
  // ok, 2 = unknown (its send future was destroyed while pending: it may or
  // may not have been delivered before).
  std::vector<int> sent_count(4096, 0), recv_count(4096, 0);
  int next_value = 0;
  std::size_t given_back_slack = 0;  // receivers destroyed after a hand-off
  std::vector<Op> ops;

  auto on_received = [&](int v) {
    CHECK(v >= 0 && v < next_value);
    recv_count[static_cast<std::size_t>(v)]++;
    CHECK(recv_count[static_cast<std::size_t>(v)] <= 1);
  };
  auto poll_op = [&](Op& op) -> bool {  // true when finished
    switch (op.kind) {
      case Op::recv: {
        auto p = op.r->poll(cx);
        if (p.is_pending()) return false;
        if (p.value()) {
          on_received(*p.value());
        } else {
          CHECK(closed[op.chan]);
        }
        return true;
      }
      case Op::send: {
        auto p = op.s->poll(cx);
        if (p.is_pending()) return false;
        if (p.value().ok()) {
          sent_count[static_cast<std::size_t>(op.value)] = 1;
        } else {
          sent_count[static_cast<std::size_t>(op.value)] = 0;
          CHECK(closed[op.chan]);
          CHECK(p.value().value == op.value);
        }
        return true;
      }
      case Op::sel: {
        auto p = op.x->poll(cx);
        if (p.is_pending()) return false;
        if (p.value().index() == 0) {
          sent_count[static_cast<std::size_t>(op.sel_value)] = 0;  // the send case lost
          auto& v = std::get<0>(p.value());
          if (v) {
            on_received(*v);
          } else {
            CHECK(closed[0]);
          }
        } else {
          auto& r = std::get<1>(p.value());
          if (r.ok()) {
            sent_count[static_cast<std::size_t>(op.sel_value)] = 1;
          } else {
            CHECK(closed[1]);
          }
        }
        return true;
      }
    }
    return true;
  };

  while (!in.done() && next_value < 4000) {
    std::uint8_t b = in.next();
    int c = (b >> 4) & 1;
    switch (b % 10) {
      case 0:
      case 1: {  // a new recv future, polled once
        if (ops.size() >= 16) break;
        Op op{Op::recv, c};
        op.r = std::make_unique<Recv<int>>(ch[c].recv());
        if (!poll_op(op)) ops.push_back(std::move(op));
        break;
      }
      case 2:
      case 3: {  // a new send future, polled once
        if (ops.size() >= 16) break;
        Op op{Op::send, c, next_value++};
        sent_count[static_cast<std::size_t>(op.value)] = 2;
        op.s = std::make_unique<Send<int>>(ch[c].send(int(op.value)));
        if (!poll_op(op)) ops.push_back(std::move(op));
        break;
      }
      case 4: {  // re-poll one
        if (ops.empty()) break;
        std::size_t i = in.next() % ops.size();
        if (poll_op(ops[i])) ops.erase(ops.begin() + static_cast<long>(i));
        break;
      }
      case 5: {  // destroy one (cancellation)
        if (ops.empty()) break;
        std::size_t i = in.next() % ops.size();
        if (ops[i].kind != Op::send) ++given_back_slack;
        ops.erase(ops.begin() + static_cast<long>(i));
        break;
      }
      case 6: {
        int v = next_value++;
        auto r = ch[c].try_send(v);
        if (r.ok()) {
          sent_count[static_cast<std::size_t>(v)] = 1;
        } else {
          CHECK(r.value == v);
          CHECK(r.status == (closed[c] ? ChannelStatus::closed : ChannelStatus::would_block));
        }
        break;
      }
      case 7: {
        auto r = ch[c].try_recv();
        if (r.ok()) {
          on_received(*r.value);
        } else if (r.status == ChannelStatus::closed) {
          CHECK(closed[c]);
        }
        break;
      }
      case 8: {  // close
        auto st = ch[c].close();
        CHECK(st == (closed[c] ? ChannelStatus::closed : ChannelStatus::ok));
        closed[c] = true;
        // Every parked operation on it must now complete.
        for (std::size_t i = 0; i < ops.size();) {
          bool on_c = (ops[i].kind != Op::sel && ops[i].chan == c);
          if (on_c) {
            CHECK(poll_op(ops[i]));
            ops.erase(ops.begin() + static_cast<long>(i));
          } else {
            ++i;
          }
        }
        break;
      }
      case 9: {  // select: recv on 0 or send on 1 (waiting, or the default case)
        if (b & 0x20) {
          int v = next_value++;
          auto r = try_select(ch[0].recv(), ch[1].send(int(v)));
          if (r) {
            if (r->index() == 0) {
              if (std::get<0>(*r)) on_received(*std::get<0>(*r));
            } else if (std::get<1>(*r).ok()) {
              sent_count[static_cast<std::size_t>(v)] = 1;
            }
          }
        } else {
          if (ops.size() >= 16) break;
          Op op{Op::sel, 0};
          op.sel_value = next_value++;
          sent_count[static_cast<std::size_t>(op.sel_value)] = 2;
          op.x = std::make_unique<Sel>(duet::select(ch[0].recv(), ch[1].send(int(op.sel_value))));
          if (!poll_op(op)) ops.push_back(std::move(op));
        }
        break;
      }
    }
    for (int k = 0; k < 2; ++k) {
      if (caps[k] != SIZE_MAX) CHECK(ch[k].size() <= caps[k] + given_back_slack);
    }
  }
  // Tear down: drop every pending operation (receivers hand back what they
  // were given), close, drain: every completed send is received once.
  ops.clear();
  for (int k = 0; k < 2; ++k) {
    ch[k].close();
    for (;;) {
      auto r = ch[k].try_recv();
      if (!r.ok()) {
        CHECK(r.status == ChannelStatus::closed);
        break;
      }
      on_received(*r.value);
    }
  }
  for (int v = 0; v < next_value; ++v) {
    int st = sent_count[static_cast<std::size_t>(v)], got = recv_count[static_cast<std::size_t>(v)];
    if (st == 2) {
      CHECK(got <= 1);
    } else {
      CHECK(st == got);
    }
  }
  std::move(w).release();
  CHECK(cw.refs == 0);
  return 0;
}
