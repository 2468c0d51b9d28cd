// duet/process/child.hpp: child processes (posix_spawn + pidfd): spawn with
// arguments, environment and working directory, talk to its stdin, stdout
// and stderr as duet streams, await its exit status; from coroutines and
// fibers, on both I/O backends.
//
// Example (coroutine):
//   auto child = duet::process::Command("/bin/sh")
//                    .arg("-c").arg("echo hi; exit 3")
//                    .stdout(duet::process::Stdio::piped)
//                    .spawn();                             // Result<Child>
//   if (child) {
//     std::byte buf[64];
//     auto n = co_await child->stdout_pipe->read(buf);    // Result<size_t>, 0 at EOF
//     auto st = co_await child->wait();                  // Result<ExitStatus>
//     if (n && st) use(*n, st->code());                  // 3
//   }
//
// Streams: a piped stdin/stdout/stderr is one end of a Unix stream
// socketpair (the child gets the other as fd 0, 1 or 2), so its read, write
// and write_all are the socket operations of TcpStream, with the same shape
// and buffer rules on both backends, and a write to a child that closed its
// end is EPIPE, never SIGPIPE (MSG_NOSIGNAL). A child that needs a real pipe
// (S_ISFIFO, splice) sees a socket instead.
//
// Exit: the child's pidfd (pidfd_open right after posix_spawn; glibc 2.36
// has no pidfd_spawn) becomes readable when it exits, and wait() then reaps
// it with waitid(P_PIDFD). pidfd_open after the spawn is race-free for a
// child of ours: its pid stays taken (a zombie at worst) until this process
// reaps it, and only Child reaps it, unless the program sets SIGCHLD to
// SIG_IGN or calls wait(-1)/waitpid(-1) itself (either reaps duet's children
// behind its back: don't).
//
// Drop: a Child dropped before its exit was awaited kills the child
// (SIGKILL through the pidfd) and reaps it: no child outlives its handle
// unobserved, and no zombie is left (Tokio's kill_on_drop(true), here the
// only behaviour: a program that wants the child to finish awaits wait()).
// The reap after SIGKILL blocks the dropping thread until the kernel has
// torn the child down. Cancelling wait() (dropping its future) does not
// kill: the child runs on and a later wait() reports its exit.
#pragma once

#include "duet/export.hpp"

#include <sys/types.h>

#include <csignal>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <array>
#include <string_view>
#include "duet/io/async_fd.hpp"
#include "duet/io/futures.hpp"
#include "duet/io/result.hpp"
#include "duet/names.hpp"

namespace duet::process {

/// What a child's stdin, stdout or stderr is connected to.
enum class Stdio {
  inherit,  // this process's own (the default)
  null,     // /dev/null
  piped,    // a stream to this process (Child::stdin_pipe, stdout_pipe, stderr_pipe)
};
constexpr std::array<Stdio, 3> enum_values(Stdio) noexcept {
  return {Stdio::inherit, Stdio::null, Stdio::piped};
}
/// "inherit", "null", "piped" (duet/names.hpp).
constexpr std::string_view to_string(Stdio s) noexcept {
  return s == Stdio::inherit ? "inherit" : s == Stdio::null ? "null" : "piped";
}

/// How a child ended.
class DUET_API ExitStatus {
 public:
  ExitStatus(int code, int signal) noexcept : code_(code), signal_(signal) {}
  /// The exit code, or -1 when a signal ended it.
  [[nodiscard]] int code() const noexcept { return code_; }
  /// The signal that ended it, or 0 when it exited.
  [[nodiscard]] int signal() const noexcept { return signal_; }
  [[nodiscard]] bool success() const noexcept { return code_ == 0; }

 private:
  int code_;
  int signal_;
};

/// The write end of a child's piped stdin.
class DUET_API ChildStdin {
 public:
  explicit ChildStdin(io::Fd fd) noexcept : src_(std::move(fd)) {}
  io::SizeFuture write(std::span<const std::byte> data) noexcept;
  io::WriteAllFuture write_all(std::span<const std::byte> data) noexcept {
    return io::WriteAllFuture(&src_, data);
  }
  /// Closes it: the child reads end of file.
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

/// The read end of a child's piped stdout or stderr.
class DUET_API ChildOutput {
 public:
  explicit ChildOutput(io::Fd fd) noexcept : src_(std::move(fd)) {}
  /// Reads up to buf.size() bytes; 0 once the child closed its end.
  io::SizeFuture read(std::span<std::byte> buf) noexcept;
  duet::Result<void> close() noexcept { return src_.close(); }
  [[nodiscard]] int native_handle() const noexcept { return src_.fd.get(); }

 private:
  io::detail::Source src_;
};

class Child;

/// wait(): Result<ExitStatus>; reaps the child.
class [[nodiscard]] DUET_API WaitFuture {
 public:
  explicit WaitFuture(Child* c) noexcept : child_(c) {}
  Poll<duet::Result<ExitStatus>> poll(Context& cx);

 private:
  Child* child_;
  std::optional<io::ReadyFuture> ready_;
};

/// A running (or exited, not yet reaped) child process.
class DUET_API Child {
 public:
  Child(Child&&) noexcept = default;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  /// Kills and reaps a child whose exit was not awaited.
  ~Child() { kill_and_reap(); }

  [[nodiscard]] pid_t id() const noexcept { return pid_; }
  /// Its exit status (reaps it). Once reaped, wait() returns it again.
  WaitFuture wait() noexcept { return WaitFuture(this); }
  /// Sends SIGKILL (ESRCH once reaped).
  duet::Result<void> kill() noexcept { return send_signal(SIGKILL); }
  /// Sends `sig` through the pidfd (no pid reuse race).
  duet::Result<void> send_signal(int sig) noexcept;

  std::optional<ChildStdin> stdin_pipe;    // Stdio::piped
  std::optional<ChildOutput> stdout_pipe;  // Stdio::piped
  std::optional<ChildOutput> stderr_pipe;  // Stdio::piped

 private:
  friend class Command;
  friend class WaitFuture;
  Child(pid_t pid, io::AsyncFd pidfd) noexcept : pid_(pid), pidfd_(std::move(pidfd)) {}
  /// waitid(P_PIDFD, WNOHANG): the status once exited, empty while the
  /// child runs. Never blocks.
  std::optional<duet::Result<ExitStatus>> try_reap() noexcept;
  /// waitid(P_PIDFD): blocks the calling thread until the child exits, and
  /// gives its status.
  duet::Result<ExitStatus> reap() noexcept;
  /// The one waitid both take (`flags`: WNOHANG or 0).
  std::optional<duet::Result<ExitStatus>> reap_with(int flags) noexcept;
  void kill_and_reap() noexcept;
  pid_t pid_ = -1;
  io::AsyncFd pidfd_;                 // owned; reset once reaped
  std::optional<ExitStatus> status_;  // once reaped
};

/// A child to spawn: the program, its arguments, environment, working
/// directory and stdio.
class DUET_API Command {
 public:
  /// `program` is searched in PATH when it has no '/' (posix_spawnp).
  explicit Command(std::string program);
  Command& arg(std::string a);
  Command& args(std::initializer_list<std::string> as);
  /// Sets (or replaces) one variable of the child's environment.
  Command& env(const std::string& key, const std::string& value);
  /// Starts the child's environment empty (else: this process's, at spawn).
  Command& env_clear();
  /// The child's working directory (ENOENT from spawn when it is missing).
  Command& current_dir(std::string dir);
  Command& stdin(Stdio s) noexcept;
  Command& stdout(Stdio s) noexcept;
  Command& stderr(Stdio s) noexcept;
  /// Starts the child: ENOENT, EACCES... (posix_spawn's reason) when it
  /// could not run the program; no fd is left open on failure.
  duet::Result<Child> spawn();

 private:
  std::string program_;
  std::vector<std::string> args_;
  std::vector<std::pair<std::string, std::string>> env_;
  bool env_clear_ = false;
  std::optional<std::string> dir_;
  Stdio stdio_[3] = {Stdio::inherit, Stdio::inherit, Stdio::inherit};
};

}  // namespace duet::process
