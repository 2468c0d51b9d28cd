// echo_load: a closed-loop load generator for echo servers (loopback only).
//
//   echo_load --port P --connections C --size B --seconds S [--warmup W]
//             [--json LABEL]
//
// One thread, one epoll set, C connections; each sends B bytes, waits for
// all B back (checking every byte), records the round trip, and sends again.
// Bounded: at most 20,000 connections, 1 MiB messages, 600 s. Prints round
// trips per second and the p50/p99/p999 round-trip latency of the measured
// phase, and the p50 and largest of each connection's first round trip
// (sent as soon as the connections are made: a server that is slow to take
// a burst of connections in shows it here); --json LABEL also prints one
// JSON line per metric for the report.
//
// It is deliberately not written with duet: the same neutral client drives
// duet and every peer server.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::size_t got = 0;
  Clock::time_point sent;
  std::uint8_t seq = 0;
  std::uint32_t first_ns = UINT32_MAX;  // the first round trip (UINT32_MAX: not yet)
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: echo_load --port P --connections C --size B --seconds S [--warmup W] "
               "[--json LABEL]\n");
  std::exit(2);
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void fill(std::vector<std::uint8_t>& msg, std::uint8_t seq) {
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i * 31 + seq);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, conns = 1, size = 64;
  double seconds = 5, warmup = 1;
  std::string label;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--port") {
      port = std::atoi(next());
    } else if (a == "--connections") {
      conns = std::atoi(next());
    } else if (a == "--size") {
      size = std::atoi(next());
    } else if (a == "--seconds") {
      seconds = std::atof(next());
    } else if (a == "--warmup") {
      warmup = std::atof(next());
    } else if (a == "--json") {
      label = next();
    } else {
      usage();
    }
  }
  if (port <= 0 || conns < 1 || conns > 20000 || size < 1 || size > (1 << 20) || seconds <= 0 ||
      seconds > 600) {
    usage();
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  for (auto& c : cs) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die("socket");
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("connect");
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) < 0) die("epoll_ctl");
  }
  std::vector<std::uint8_t> msg(static_cast<std::size_t>(size)), buf(65536), want(msg.size());
  std::vector<std::uint32_t> lat;  // nanoseconds, measured phase only
  lat.reserve(1 << 22);
  auto send_msg = [&](Conn& c) {
    fill(msg, c.seq);
    std::size_t off = 0;
    while (off < msg.size()) {
      ssize_t n = send(c.fd, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) continue;  // tiny messages: the buffer drains at once
        die("send");
      }
      off += static_cast<std::size_t>(n);
    }
    c.sent = Clock::now();
    c.got = 0;
  };
  for (auto& c : cs) send_msg(c);
  const auto t0 = Clock::now();
  const auto measure_from =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  std::uint64_t done = 0, errors = 0;
  std::vector<epoll_event> evs(1024);
  for (;;) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    auto now = Clock::now();
    if (now >= end) break;
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(evs[static_cast<std::size_t>(i)].data.ptr);
      for (;;) {
        ssize_t r = recv(c.fd, buf.data(), std::min(buf.size(), msg.size() - c.got), 0);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) {
          std::fprintf(stderr, "echo_load: connection closed by the server\n");
          return 1;
        }
        fill(want, c.seq);
        if (std::memcmp(buf.data(), want.data() + c.got, static_cast<std::size_t>(r)) != 0)
          ++errors;
        c.got += static_cast<std::size_t>(r);
        if (c.got == msg.size()) {
          now = Clock::now();
          if (c.seq == 0) {
            c.first_ns = static_cast<std::uint32_t>(
                std::min<std::int64_t>((now - c.sent).count(), UINT32_MAX - 1));
          }
          if (now >= measure_from) {
            ++done;
            lat.push_back(static_cast<std::uint32_t>(
                std::min<std::int64_t>((now - c.sent).count(), UINT32_MAX)));
          }
          ++c.seq;
          send_msg(c);
          break;
        }
      }
    }
  }
  const double secs = std::chrono::duration<double>(end - measure_from).count();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1));
    return lat[i] / 1000.0;
  };
  const double rps = static_cast<double>(done) / secs;
  // Each connection's first round trip; one never answered counts as the
  // whole run.
  std::vector<std::uint32_t> first;
  first.reserve(cs.size());
  for (const Conn& c : cs) first.push_back(c.first_ns);
  std::sort(first.begin(), first.end());
  const double first_p50 = first[(first.size() - 1) / 2] / 1000.0;
  const double first_max = first.back() / 1000.0;
  std::printf(
      "connections %d size %d seconds %.1f round_trips %llu rps %.0f p50_us %.1f p99_us %.1f "
      "p999_us %.1f first_p50_us %.1f first_max_us %.1f errors %llu\n",
      conns, size, secs, static_cast<unsigned long long>(done), rps, pct(0.5), pct(0.99),
      pct(0.999), first_p50, first_max, static_cast<unsigned long long>(errors));
  if (!label.empty()) {
    const char* metrics[] = {"rps", "p50_us", "p99_us", "p999_us"};
    const double vals[] = {rps, pct(0.5), pct(0.99), pct(0.999)};
    const char* units[] = {"round_trips/s", "us", "us", "us"};
    for (int i = 0; i < 4; ++i) {
      std::printf(
          "{\"experiment\":\"io_echo\",\"metric\":\"%s\",\"value\":%.3f,\"unit\":\"%s\","
          "\"n\":%llu,\"method\":\"echo_load closed loop, %d conns x %d B, %.1f s after %.1f s "
          "warm-up\",\"server\":\"%s\",\"connections\":%d,\"size\":%d}\n",
          metrics[i], vals[i], units[i], static_cast<unsigned long long>(done), conns, size, secs,
          warmup, label.c_str(), conns, size);
    }
  }
  for (auto& c : cs) close(c.fd);
  return errors == 0 ? 0 : 1;
}
