// spawn.cpp: Command::spawn (duet/process/child.hpp): the argument and
// environment vectors, a socketpair per piped stdio, posix_spawn(p) with
// the child's ends dup2'ed onto 0, 1 and 2, a clean signal mask and default
// dispositions, then pidfd_open. Every fd made here is RAII: a failure at
// any step closes them all (and kills and reaps a child already started).
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "process/pidfd.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "duet/process/child.hpp"

extern char** environ;  // NOLINT: POSIX's process environment

namespace duet::process {
namespace {

/// The file actions and attributes of one spawn, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t fa{};
  posix_spawnattr_t attr{};
  SpawnSetup() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

/// One stdio's socketpair: ours (non-blocking) and the child's.
struct StdioPair {
  io::Fd ours;
  io::Fd theirs;
};

int make_pair(StdioPair& p) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return errno;
  p.ours.reset(sv[0]);
  p.theirs.reset(sv[1]);
  const int fl = ::fcntl(sv[0], F_GETFL);
  if (fl < 0 || ::fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) return errno;
  return 0;
}

/// The child's environment: this process's (unless cleared), with the
/// Command's variables set over it.
std::vector<std::string> child_env(bool clear,
                                   const std::vector<std::pair<std::string, std::string>>& set) {
  std::vector<std::string> out;
  auto overridden = [&](const char* e) {
    for (const auto& [k, v] : set) {
      if (std::strncmp(e, k.c_str(), k.size()) == 0 && e[k.size()] == '=') return true;
    }
    return false;
  };
  if (!clear) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (!overridden(*e)) out.emplace_back(*e);
    }
  }
  for (const auto& [k, v] : set) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

/// The spawn's attributes: an empty signal mask and default dispositions
/// for every catchable signal (a caller's handlers or duet's own must not
/// leak into the child; exec resets handlers, but not ignored signals or
/// the mask).
int set_attributes(SpawnSetup& s) {
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  if (int e = posix_spawnattr_setsigmask(&s.attr, &none)) return e;
  if (int e = posix_spawnattr_setsigdefault(&s.attr, &all)) return e;
  return posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/// A child that has no pidfd: killed and reaped by its pid (still ours).
void kill_and_reap(pid_t pid) noexcept {
  ::kill(pid, SIGKILL);
  siginfo_t si{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED) < 0 && errno == EINTR) {
  }
}

}  // namespace

Command::Command(std::string program) : program_(std::move(program)) {}

Command& Command::arg(std::string a) {
  args_.push_back(std::move(a));
  return *this;
}
Command& Command::args(std::initializer_list<std::string> as) {
  for (const auto& a : as) args_.push_back(a);
  return *this;
}
Command& Command::env(const std::string& key, const std::string& value) {
  for (auto& [k, v] : env_) {
    if (k == key) {
      v = value;
      return *this;
    }
  }
  env_.emplace_back(key, value);
  return *this;
}
Command& Command::env_clear() {
  env_clear_ = true;
  return *this;
}
Command& Command::current_dir(std::string dir) {
  dir_ = std::move(dir);
  return *this;
}
Command& Command::stdin(Stdio s) noexcept {
  stdio_[0] = s;
  return *this;
}
Command& Command::stdout(Stdio s) noexcept {
  stdio_[1] = s;
  return *this;
}
Command& Command::stderr(Stdio s) noexcept {
  stdio_[2] = s;
  return *this;
}

duet::Result<Child> Command::spawn() {
  SpawnSetup s;
  std::array<StdioPair, 3> pairs;
  for (int i = 0; i < 3; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    int e = 0;
    if (stdio_[ui] == Stdio::piped) {
      e = make_pair(pairs[ui]);
      if (e == 0) e = posix_spawn_file_actions_adddup2(&s.fa, pairs[ui].theirs.get(), i);
    } else if (stdio_[ui] == Stdio::null) {
      e = posix_spawn_file_actions_addopen(&s.fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    if (e != 0) return io::errno_code(e);
  }
  if (dir_) {
    if (int e = posix_spawn_file_actions_addchdir_np(&s.fa, dir_->c_str())) {
      return io::errno_code(e);
    }
  }
  if (int e = set_attributes(s)) return io::errno_code(e);
  std::vector<std::string> argv_s;
  argv_s.push_back(program_);
  argv_s.insert(argv_s.end(), args_.begin(), args_.end());
  std::vector<std::string> env_s = child_env(env_clear_, env_);
  std::vector<char*> argv = c_strings(argv_s);
  std::vector<char*> envp = c_strings(env_s);
  pid_t pid = -1;
  // posix_spawnp searches PATH (this process's) for a name without '/'.
  // glibc's spawn reports an exec failure (ENOENT, EACCES) as its result.
  if (int e = ::posix_spawnp(&pid, program_.c_str(), &s.fa, &s.attr, argv.data(), envp.data())) {
    return io::errno_code(e);
  }
  // The pid stays ours until we reap it, so the pidfd names this child.
  io::Fd pidfd(detail::pidfd_open(pid));
  const int e = errno;
  auto a = io::AsyncFd::adopt(std::move(pidfd));
  if (!a) {
    kill_and_reap(pid);
    return io::errno_code(e);
  }
  Child c(pid, std::move(*a));
  if (stdio_[0] == Stdio::piped) c.stdin_pipe.emplace(std::move(pairs[0].ours));
  if (stdio_[1] == Stdio::piped) c.stdout_pipe.emplace(std::move(pairs[1].ours));
  if (stdio_[2] == Stdio::piped) c.stderr_pipe.emplace(std::move(pairs[2].ours));
  return c;  // the child's ends close here: only the child holds them now
}

}  // namespace duet::process
