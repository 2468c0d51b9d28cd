// metrics/prometheus.cpp: the Prometheus text exposition of a runtime's and
// the drivers' counters (duet/metrics/prometheus.hpp). The format's rules
// it keeps: one HELP and one TYPE line per family, before its samples, and
// its samples together; names from [a-zA-Z_:][a-zA-Z0-9_:]*; label values
// with backslash, double quote and newline escaped; one line per sample,
// each ending in '\n'.
#include "duet/metrics/prometheus.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "duet/config.hpp"
#include "duet/histogram.hpp"
#include "duet/io/stats.hpp"
#include "duet/memory.hpp"
#include "duet/runtime.hpp"

namespace duet::metrics {

namespace {

/// Writes one family at a time: its HELP and TYPE, then its samples.
class Exposition {
 public:
  explicit Exposition(std::string& out) noexcept : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // plain text: no backslash or newline in ours
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  /// A histogram family's samples for one worker: each exported bound's
  /// cumulative count, +Inf, _sum and _count (histogram_rows below).
  void histogram(const Histogram& h, std::span<const double> bounds, std::string_view worker);

  /// A sample of the current family, with at most one label.
  void sample(std::uint64_t value, std::string_view label = {}, std::string_view label_value = {}) {
    out_ += name_;
    if (!label.empty()) {
      out_ += '{';
      out_ += label;
      out_ += "=\"";
      escape_label_value(label_value);
      out_ += "\"}";
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }

 private:
  void escape_label_value(std::string_view v) {
    for (char ch : v) {
      if (ch == '\\') {
        out_ += "\\\\";
      } else if (ch == '"') {
        out_ += "\\\"";
      } else if (ch == '\n') {
        out_ += "\\n";
      } else {
        out_ += ch;
      }
    }
  }

  void number(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }

  std::string& out_;
  std::string_view name_;
};

void Exposition::histogram(const Histogram& h, std::span<const double> bounds,
                           std::string_view worker) {
  // A duet bucket counts under the first exported bound at or above its
  // own upper bound: a straddling bucket's values count at the next bound
  // (the exported counts lean late by at most a quarter of a value). The
  // +Inf bucket and _count are the buckets' sum, so they agree even when
  // the snapshot caught a worker between two of its stores.
  std::uint64_t total = 0;
  for (std::uint64_t c : h.counts) total += c;
  std::size_t i = 0;
  std::uint64_t seen = 0;
  const auto row = [&](std::string_view le, std::uint64_t v) {
    out_ += name_;
    out_ += "_bucket{worker=\"";
    escape_label_value(worker);
    out_ += "\",le=\"";
    out_ += le;
    out_ += "\"} ";
    out_ += std::to_string(v);
    out_ += '\n';
  };
  for (const double b : bounds) {
    while (i < Histogram::buckets && h.upper_bound(i) <= b) seen += h.counts[i++];
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, b);
    row(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)), seen);
  }
  row("+Inf", total);
  for (const char* suffix : {"_sum", "_count"}) {
    out_ += name_;
    out_ += suffix;
    out_ += "{worker=\"";
    escape_label_value(worker);
    out_ += "\"} ";
    if (suffix[1] == 's') {
      number(static_cast<double>(h.sum) * h.unit);
    } else {
      out_ += std::to_string(total);
    }
    out_ += '\n';
  }
}

struct WorkerCounter {
  const char* name;
  const char* help;
  std::uint64_t WorkerStats::*field;
};

// Every field of WorkerStats (duet/config.hpp), in its order.
constexpr WorkerCounter worker_counters[] = {
    {"duet_worker_polls_total", "Task runs (polls or fiber resumes).", &WorkerStats::polls},
    {"duet_worker_lifo_hits_total", "Runs taken from the LIFO slot.", &WorkerStats::lifo_hits},
    {"duet_worker_steals_total", "Tasks taken from other workers.", &WorkerStats::steals},
    {"duet_worker_steal_attempts_total", "Victim queues tried.", &WorkerStats::steal_attempts},
    {"duet_worker_injector_pops_total", "Tasks taken from the injection queue.",
     &WorkerStats::injector_pops},
    {"duet_worker_overflows_total", "Local queue full: half moved to the injection queue.",
     &WorkerStats::overflows},
    {"duet_worker_parks_total", "Times the worker went to sleep.", &WorkerStats::parks},
    {"duet_worker_yields_total", "Yields served.", &WorkerStats::yields},
    {"duet_worker_lifo_steals_total", "Tasks taken from a stuck worker's LIFO slot.",
     &WorkerStats::lifo_steals},
    {"duet_worker_hand_offs_total", "Fiber-to-fiber switches that skipped the worker loop.",
     &WorkerStats::hand_offs},
    {"duet_worker_inline_joins_total", "Children run inside their joiner's poll.",
     &WorkerStats::inline_joins},
    {"duet_worker_stalls_total", "Runs that kept the worker past the stall threshold.",
     &WorkerStats::stalls},
};
static_assert(offsetof(WorkerStats, histograms) ==
                  std::size(worker_counters) * sizeof(std::uint64_t),
              "every WorkerStats counter has its family here");

// The bounds the time histograms are exported at, in seconds, and the
// stack histogram's, in bytes: a few per decade, as Prometheus histograms
// keep them (duet's own buckets are finer: duet/histogram.hpp).
constexpr double time_bounds[] = {1e-7,   2.5e-7, 5e-7,   1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5,
                                  5e-5,   1e-4,   2.5e-4, 5e-4, 1e-3,   2.5e-3, 5e-3, 1e-2,
                                  2.5e-2, 5e-2,   0.1,    0.25, 0.5,    1.0,    2.5,  10.0};
constexpr double stack_bounds[] = {1024,   2048,   4096,   8192,    16384,   32768,   65536,
                                   131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608};

struct WorkerHistogram {
  const char* name;
  const char* help;
  Histogram WorkerHistograms::*field;
  std::span<const double> bounds;
  bool sampled;  // exported only with RuntimeConfig::histogram_sample_every on
};

constexpr WorkerHistogram worker_histograms[] = {
    {"duet_worker_run_seconds", "Sampled runs: how long each kept the worker.",
     &WorkerHistograms::run_time, time_bounds, true},
    {"duet_worker_scheduling_delay_seconds",
     "Sampled wake-ups: from the wake to the start of the task's run.",
     &WorkerHistograms::scheduling_delay, time_bounds, true},
    {"duet_worker_fiber_stack_bytes", "Measured fibers: stack high-water mark.",
     &WorkerHistograms::fiber_stack, stack_bounds, false},
};

/// The histogram families: the sampled ones while sampling is on, the
/// stack's once a measured fiber has finished.
void write_histograms(Exposition& e, const std::vector<WorkerStats>& workers,
                      const std::vector<std::string>& ids) {
  for (const WorkerHistogram& f : worker_histograms) {
    bool any = false;
    for (const WorkerStats& w : workers) {
      any =
          any || (f.sampled ? w.histograms.sample_every != 0 : (w.histograms.*f.field).count != 0);
    }
    if (!any) continue;
    e.family(f.name, "histogram", f.help);
    for (std::size_t i = 0; i < workers.size(); ++i)
      e.histogram(workers[i].histograms.*f.field, f.bounds, ids[i]);
  }
}

struct IoCounter {
  const char* name;
  const char* help;
  std::uint64_t IoStats::*field;
};

// Every field of IoStats (duet/io/stats.hpp), in its order.
constexpr IoCounter io_counters[] = {
    {"duet_io_enters_total", "io_uring_enter calls (io_uring).", &IoStats::enters},
    {"duet_io_sqes_total", "Submission queue entries submitted (io_uring).", &IoStats::sqes},
    {"duet_io_cqes_total", "Completion queue entries reaped (io_uring).", &IoStats::cqes},
    {"duet_io_epoll_waits_total", "epoll_wait calls (epoll).", &IoStats::epoll_waits},
    {"duet_io_syscalls_total", "Direct socket system calls (epoll; io_uring: a starved read).",
     &IoStats::io_syscalls},
    {"duet_io_wake_writes_total", "eventfd writes that woke a parked worker.",
     &IoStats::wake_writes},
    {"duet_io_recv_arms_total", "Multishot receives armed (io_uring).", &IoStats::recv_arms},
    {"duet_io_recv_buffers_total", "Buffers filled by multishot receives (io_uring).",
     &IoStats::recv_buffers},
    {"duet_io_recv_starved_total",
     "Multishot receives ended for lack of buffers; the next read is a direct recv (io_uring).",
     &IoStats::recv_starved},
    {"duet_io_recv_ring_growths_total",
     "Receive buffer rings doubled after running dry (io_uring; "
     "RuntimeConfig::io_recv_buffers_max).",
     &IoStats::recv_ring_growths},
};
static_assert(sizeof(IoStats) == std::size(io_counters) * sizeof(std::uint64_t),
              "every IoStats field has its family here");

/// Runtime::memory_stats() (duet/memory.hpp), in bytes.
void write_memory(Exposition& e, const MemoryStats& m, const std::vector<std::string>& ids) {
  const struct {
    const char* name;
    const char* help;
    std::size_t value;
  } process[] = {
      {"duet_memory_block_chunk_bytes", "Block cache: 2 MiB chunks mapped.", m.blocks.chunk_bytes},
      {"duet_memory_block_carved_bytes", "Block cache: slabs cut into blocks.",
       m.blocks.carved_bytes},
      {"duet_memory_block_depot_bytes", "Block cache: free blocks in the shared depot.",
       m.blocks.depot_bytes},
      {"duet_memory_stack_pooled_bytes", "Fiber stack pool: address space kept for reuse.",
       m.stacks.pooled_bytes},
      {"duet_memory_stack_resident_bytes", "Fiber stack pool: pages kept of the pooled stacks.",
       m.stacks.resident_bytes},
  };
  for (const auto& g : process) {
    e.family(g.name, "gauge", g.help);
    e.sample(g.value);
  }
  e.family("duet_memory_io_ring_bytes", "gauge", "io_uring: the rings and SQE array mapped.");
  for (std::size_t i = 0; i < m.drivers.size() && i < ids.size(); ++i)
    e.sample(m.drivers[i].ring_bytes, "worker", ids[i]);
  e.family("duet_memory_io_buffer_ring_bytes", "gauge",
           "io_uring: the provided receive buffers' mapping.");
  for (std::size_t i = 0; i < m.drivers.size() && i < ids.size(); ++i)
    e.sample(m.drivers[i].buffer_ring_bytes, "worker", ids[i]);
  e.family("duet_memory_io_buffers_in_use", "gauge",
           "io_uring: provided receive buffers out of the ring (filled, not yet given back).");
  for (std::size_t i = 0; i < m.drivers.size() && i < ids.size(); ++i)
    e.sample(m.drivers[i].buffers_in_use, "worker", ids[i]);
}

}  // namespace

void write_prometheus(const Runtime& rt, std::string& out) {
  const std::vector<WorkerStats> workers = rt.stats();
  Exposition e(out);
  e.family("duet_workers", "gauge", "Worker threads of the runtime.");
  e.sample(workers.size());
  std::vector<std::string> ids;
  ids.reserve(workers.size());
  for (std::size_t i = 0; i < workers.size(); ++i) ids.push_back(std::to_string(i));
  for (const WorkerCounter& c : worker_counters) {
    e.family(c.name, "counter", c.help);
    for (std::size_t i = 0; i < workers.size(); ++i)
      e.sample(workers[i].*c.field, "worker", ids[i]);
  }
  write_histograms(e, workers, ids);
  const IoStats io = duet::io_stats();
  for (const IoCounter& c : io_counters) {
    e.family(c.name, "counter", c.help);
    e.sample(io.*c.field);
  }
  e.family("duet_io_driver_info", "gauge", "The I/O driver this process uses (value 1).");
  e.sample(1, "driver", duet::to_string(io::active_driver()).data());
  write_memory(e, rt.memory_stats(), ids);
}

std::string prometheus_text(const Runtime& rt) {
  std::string out;
  write_prometheus(rt, out);
  return out;
}

}  // namespace duet::metrics
