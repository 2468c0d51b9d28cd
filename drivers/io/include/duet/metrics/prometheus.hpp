// duet/metrics/prometheus.hpp: a runtime's counters and the I/O drivers'
// in the Prometheus text exposition format (version 0.0.4), from a call.
//
// Example (file):
//   // Answers one scrape on a connection the caller accepted.
//   duet::Task<void> answer_scrape(duet::Runtime& rt, duet::net::TcpStream s) {
//     const std::string body = duet::metrics::prometheus_text(rt);
//     const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " +
//                              std::string(duet::metrics::prometheus_content_type) +
//                              "\r\nContent-Length: " + std::to_string(body.size()) +
//                              "\r\nConnection: close\r\n\r\n";
//     (void)co_await s.write_all(head.data(), head.size());
//     (void)co_await s.write_all(body.data(), body.size());
//   }
//
// What it writes (docs/observability.md lists every family):
//   - duet_workers (gauge), the runtime's workers.
//   - duet_worker_<counter>_total{worker="i"} (counter), each field of
//     duet::WorkerStats (Runtime::stats), one sample per worker.
//   - duet_io_<counter>_total (counter), duet::io_stats(): summed over
//     every driver this process ran, process-wide like that function.
//   - duet_io_driver_info{driver="io_uring"} 1 (gauge), the driver in use.
// Every family has its HELP and TYPE lines before its samples; names and
// label values follow the format's rules (label values escaped). Counters
// start at zero with their runtime: a new runtime is a counter reset, which
// Prometheus' rate() handles.
//
// The call reads each worker's counters without stopping it (Runtime::stats'
// snapshot): each value is one the worker had, not all from one instant.
// It allocates (the text): call it from a scrape, not a hot path.
#pragma once

#include "duet/export.hpp"

#include <string>
#include <string_view>

namespace duet {
class Runtime;
}  // namespace duet

namespace duet::metrics {

/// The Content-Type an HTTP response carrying prometheus_text() declares.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// Appends `rt`'s exposition (see the file comment) to `out`.
DUET_API void write_prometheus(const Runtime& rt, std::string& out);

/// write_prometheus into a new string.
[[nodiscard]] DUET_API std::string prometheus_text(const Runtime& rt);

}  // namespace duet::metrics
