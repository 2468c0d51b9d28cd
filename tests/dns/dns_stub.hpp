// dns_stub.hpp: a DNS server stub for the tests, on a UDP socket on
// 127.0.0.1 served by a thread of its own: A and AAAA answers for the
// names it is given, NXDOMAIN for "nx.test", and no answer at all for
// "silent.test" (a server that never replies). It never forwards anything:
// the tests never reach the outside network.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <duet/io/fd.hpp>

namespace duet::dnstest {

class DnsStub {
 public:
  struct Answers {
    std::vector<std::string> a, aaaa;
  };
  explicit DnsStub(std::map<std::string, Answers> names) : names_(std::move(names)) {
    sock_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(sock_.get(), reinterpret_cast<sockaddr*>(&a), len);
    ::getsockname(sock_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    stop_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { serve(); });
  }
  DnsStub(const DnsStub&) = delete;
  DnsStub& operator=(const DnsStub&) = delete;
  ~DnsStub() {
    std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
  [[nodiscard]] std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }
  /// Queries received for `name` (any type).
  int asked(const std::string& name) const {
    return name == "silent.test" ? silent_asked_.load() : 0;
  }

 private:
  void serve() {
    pollfd p[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents != 0) return;
      unsigned char q[512];
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      ssize_t n =
          ::recvfrom(sock_.get(), q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      auto r = answer(q, static_cast<std::size_t>(n));
      if (!r.empty()) {
        ::sendto(sock_.get(), r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    }
  }

  /// The reply to query `q`, or nothing (no reply).
  std::vector<unsigned char> answer(const unsigned char* q, std::size_t n) {
    std::size_t at = 12;
    std::string name;
    while (at < n && q[at] != 0) {
      std::size_t len = q[at];
      if (at + 1 + len > n) return {};
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < len; ++i) {
        name += static_cast<char>(std::tolower(q[at + 1 + i]));
      }
      at += 1 + len;
    }
    if (at + 5 > n) return {};
    const std::size_t qend = at + 5;  // the zero label, QTYPE, QCLASS
    const int qtype = (q[at + 1] << 8) | q[at + 2];
    if (name == "silent.test") {
      silent_asked_.fetch_add(1);
      return {};
    }
    std::vector<unsigned char> r(q, q + qend);
    r[2] = 0x81;  // QR, RD
    r[3] = 0x80;  // RA, NOERROR
    r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
    auto it = names_.find(name);
    if (it == names_.end()) {
      r[3] |= 3;  // NXDOMAIN
      return r;
    }
    const auto& list = qtype == 1 ? it->second.a : qtype == 28 ? it->second.aaaa : empty_;
    r[7] = static_cast<unsigned char>(list.size());
    for (const auto& addr : list) {
      unsigned char raw[16];
      const bool v4 = qtype == 1;
      ::inet_pton(v4 ? AF_INET : AF_INET6, addr.c_str(), raw);
      const unsigned char rr[] = {0xc0, 0x0c, 0, static_cast<unsigned char>(qtype),      0, 1, 0, 0,
                                  0,    60,   0, static_cast<unsigned char>(v4 ? 4 : 16)};
      r.insert(r.end(), rr, rr + sizeof rr);
      r.insert(r.end(), raw, raw + (v4 ? 4 : 16));
    }
    return r;
  }

  std::map<std::string, Answers> names_;
  const std::vector<std::string> empty_;
  io::Fd sock_, stop_;
  std::uint16_t port_ = 0;
  std::atomic<int> silent_asked_{0};
  std::thread thread_;
};

}  // namespace duet::dnstest
