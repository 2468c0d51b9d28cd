// tls_peer.hpp: what the TLS tests run around duet: test certificates made
// at run time with the openssl tool, and the openssl tool itself as a
// child process (s_server, s_client) talking through pipes.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <duet/io/fd.hpp>

extern char** environ;

namespace duet::tlstest {

inline bool have_openssl() {
  return std::string_view(DUET_OPENSSL_BIN).find('/') != std::string_view::npos;
}

/// A child process with its stdin and stdout (and stderr) on pipes; killed
/// and reaped by the destructor if still running (no zombie).
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::runtime_error("pipe2");
    }
    io::Fd in_r(in[0]), out_w(out[1]);
    in_.reset(in[1]);
    out_.reset(out[0]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int r = ::posix_spawn(&pid_, args[0].c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) throw std::runtime_error("posix_spawn " + args[0]);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
  }
  /// Reads the child's output until it holds `needle` (true) or ends.
  bool read_until(std::string_view needle, std::size_t from = 0) {
    char b[4096];
    while (seen_.find(needle, from) == std::string::npos) {
      ssize_t n = ::read(out_.get(), b, sizeof b);
      if (n <= 0) return false;
      seen_.append(b, static_cast<std::size_t>(n));
    }
    return true;
  }
  [[nodiscard]] const std::string& output() const { return seen_; }
  void write(std::string_view s) { (void)!::write(in_.get(), s.data(), s.size()); }
  void close_stdin() { in_.reset(); }
  /// Waits for the child to end; its exit status (128 + signal if killed).
  int wait() {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  pid_t pid_ = -1;
  io::Fd in_, out_;
  std::string seen_;
};

inline int run_openssl(const std::vector<std::string>& args) {
  std::vector<std::string> a{DUET_OPENSSL_BIN};
  a.insert(a.end(), args.begin(), args.end());
  Child c(a);
  c.close_stdin();
  c.read_until("\x01never");  // drains the output until the child closes it
  return c.wait();
}

/// The test PKI, made once per process in a temporary directory: a CA; a
/// server certificate for localhost and 127.0.0.1 signed by it; one for
/// "wrong.example" signed by it; a self-signed one for localhost. With
/// DUET_TEST_PKI set, the PKI in that folder (made there once, and kept):
/// the same certificates for several processes, so that a simulated TLS
/// run's trace compares across builds.
struct Certs {
  std::filesystem::path dir;
  std::string ca, server, server_key, wrong, wrong_key, self, self_key;
  bool ok = false;
  bool keep = false;

  Certs() {
    if (const char* fixed = std::getenv("DUET_TEST_PKI"); fixed != nullptr && *fixed != 0) {
      dir = fixed;
      keep = true;
      std::error_code e;
      std::filesystem::create_directories(dir, e);
      name_files();
      if (std::filesystem::exists(self_key)) {
        ok = true;
        return;
      }
      make();
      return;
    }
    char tmpl[] = "/tmp/duet-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir = tmpl;
    name_files();
    make();
  }
  ~Certs() {
    std::error_code e;
    if (!dir.empty() && !keep) std::filesystem::remove_all(dir, e);
  }

 private:
  void name_files() {
    auto p = [&](const char* n) { return (dir / n).string(); };
    ca = p("ca.pem");
    server = p("server.pem");
    server_key = p("server.key");
    wrong = p("wrong.pem");
    wrong_key = p("wrong.key");
    self = p("self.pem");
    self_key = p("self.key");
  }
  void make() {
    auto p = [&](const char* n) { return (dir / n).string(); };
    const std::vector<std::string> ec{"-newkey", "ec",    "-pkeyopt", "ec_paramgen_curve:P-256",
                                      "-nodes",  "-days", "2"};
    auto req = [&](std::vector<std::string> a) {
      std::vector<std::string> v{"req", "-x509"};
      v.insert(v.end(), ec.begin(), ec.end());
      v.insert(v.end(), a.begin(), a.end());
      return run_openssl(v) == 0;
    };
    ok = req({"-keyout", p("ca.key"), "-out", ca, "-subj", "/CN=duet test CA", "-addext",
              "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"}) &&
         req({"-CA", ca, "-CAkey", p("ca.key"), "-keyout", server_key, "-out", server, "-subj",
              "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"}) &&
         req({"-CA", ca, "-CAkey", p("ca.key"), "-keyout", wrong_key, "-out", wrong, "-subj",
              "/CN=wrong.example", "-addext", "subjectAltName=DNS:wrong.example"}) &&
         req({"-keyout", self_key, "-out", self, "-subj", "/CN=localhost", "-addext",
              "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  }
};

inline const Certs& certs() {
  static const Certs c;
  return c;
}

/// `openssl s_server -rev` (each line sent back reversed) on 127.0.0.1 and
/// a port of the kernel's choice, read from its "ACCEPT" line.
class SServer {
 public:
  SServer(const std::string& cert, const std::string& key, std::vector<std::string> extra = {})
      : child_(args(cert, key, std::move(extra))) {
    if (child_.read_until("ACCEPT 127.0.0.1:")) {
      auto at = child_.output().find("ACCEPT 127.0.0.1:") + 17;
      if (child_.read_until("\n", at)) {
        port_ = static_cast<std::uint16_t>(std::stoi(child_.output().substr(at)));
      }
    }
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  static std::vector<std::string> args(const std::string& cert, const std::string& key,
                                       std::vector<std::string> extra) {
    std::vector<std::string> a{
        DUET_OPENSSL_BIN, "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key, "-rev"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  Child child_;
  std::uint16_t port_ = 0;
};

}  // namespace duet::tlstest
