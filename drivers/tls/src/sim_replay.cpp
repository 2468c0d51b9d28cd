// sim_replay.cpp: TLS replayed in a simulated world: the RAND_METHOD that
// answers OpenSSL's draws from the world's seed, the ticket keys drawn per
// world, and the tickets' time on the world's clock (sim_replay.hpp has the
// rules).
//
// RAND_METHOD and RAND_set_rand_method are deprecated in OpenSSL 3.0 and
// kept there; 3.0 has no other way to route the draws of every library
// context, made before the world or not, to one source
// (RAND_set_DRBG_type must precede a context's first draw).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sim_replay.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <span>

#include "duet/io/detail/virtual_net.hpp"

namespace duet::tls::detail {
namespace {

using io::detail::VirtualNet;

/// The wall time, in seconds, that a world's start stands for in its
/// tickets (2023-11-14): any fixed value replays; a plausible one keeps
/// the sessions' times ordinary.
constexpr long kTicketEpoch = 1'700'000'000;

// The world's network while one is installed, and the method ours
// replaced. Written by the watcher on the installing thread before the
// world's runtime starts (and after it stops); release/acquire so a draw
// that sees the network sees it whole, and sees the method to forward to.
std::atomic<VirtualNet*> g_net{nullptr};
std::atomic<const RAND_METHOD*> g_prev{nullptr};
// The installed world's number (1, 2, ... per install), 0 while none.
// Relaxed: it is only compared, and a connection on the world's worker
// reads it after the worker started, which the install happens before.
std::atomic<std::uint64_t> g_world{0};
std::uint64_t g_worlds = 0;  // installs so far (the watcher's, serialized by it)

/// The network, when the calling thread is the installed world's worker.
VirtualNet* world_here() noexcept {
  VirtualNet* v = g_net.load(std::memory_order_acquire);
  return v != nullptr && io::detail::on_virtual_driver() ? v : nullptr;
}

// ---- the RAND_METHOD ----

int seeded_bytes(unsigned char* buf, int num) {
  if (num <= 0) return num == 0 ? 1 : 0;
  if (VirtualNet* v = world_here()) {
    v->seeded_bytes(std::span<unsigned char>(buf, static_cast<std::size_t>(num)));
    return 1;
  }
  const RAND_METHOD* p = g_prev.load(std::memory_order_acquire);
  return p != nullptr && p->bytes != nullptr ? p->bytes(buf, num) : 0;
}

int forward_seed(const void* buf, int num) {
  const RAND_METHOD* p = g_prev.load(std::memory_order_acquire);
  return p != nullptr && p->seed != nullptr ? p->seed(buf, num) : 1;
}

int forward_add(const void* buf, int num, double entropy) {
  const RAND_METHOD* p = g_prev.load(std::memory_order_acquire);
  return p != nullptr && p->add != nullptr ? p->add(buf, num, entropy) : 1;
}

int forward_status() {
  const RAND_METHOD* p = g_prev.load(std::memory_order_acquire);
  return p != nullptr && p->status != nullptr ? p->status() : 1;
}

const RAND_METHOD kSeeded = {forward_seed, seeded_bytes, nullptr,
                             forward_add,  seeded_bytes, forward_status};

/// Installs our method for a world's life and puts back the one before it.
void on_world(VirtualNet* v) {
  if (v != nullptr) {
    g_prev.store(RAND_get_rand_method(), std::memory_order_release);
    g_net.store(v, std::memory_order_release);
    RAND_set_rand_method(&kSeeded);
    g_world.store(++g_worlds, std::memory_order_relaxed);
  } else {
    g_world.store(0, std::memory_order_relaxed);
    RAND_set_rand_method(g_prev.load(std::memory_order_acquire));
    g_net.store(nullptr, std::memory_order_release);
  }
}

// ---- tickets on the world's clock ----

long world_seconds(const VirtualNet& v) noexcept {
  return kTicketEpoch +
         static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(v.elapsed()).count());
}

/// The server, about to seal a ticket: its session's time is the world's.
int stamp_ticket(SSL* ssl, void*) {
  if (VirtualNet* v = world_here()) SSL_SESSION_set_time(SSL_get_session(ssl), world_seconds(*v));
  return 1;
}

/// The server, having opened a ticket: its age on the world's clock, and
/// the wall time that age makes for OpenSSL's checks. A ticket that did
/// not open is OpenSSL's to handle (a full handshake and a new ticket).
SSL_TICKET_RETURN open_ticket(SSL*, SSL_SESSION* sess, const unsigned char*, size_t,
                              SSL_TICKET_STATUS status, void*) {
  if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW) {
    return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
  if (VirtualNet* v = world_here()) {
    const long age = world_seconds(*v) - SSL_SESSION_get_time(sess);
    if (age < 0 || age > SSL_SESSION_get_timeout(sess)) return SSL_TICKET_RETURN_IGNORE_RENEW;
    SSL_SESSION_set_time(sess, static_cast<long>(std::time(nullptr)) - age);
  }
  return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

/// The client, writing its ClientHello's extensions (the early-data one,
/// before the PSK one that reports the ticket's age): the session it
/// resumes is stamped now. Offers no external PSK.
int stamp_resumed(SSL* ssl, const EVP_MD*, const unsigned char** id, size_t* idlen,
                  SSL_SESSION** sess) {
  *id = nullptr;
  *idlen = 0;
  *sess = nullptr;
  if (SSL_SESSION* s = SSL_get_session(ssl)) {
    SSL_SESSION_set_time(s, static_cast<long>(std::time(nullptr)));
  }
  return 1;
}

/// Gives `st` ticket keys of world `w` (seeded), or real ones for w == 0,
/// and the ticket callbacks while in a world.
bool rekey(ContextState& st, std::uint64_t w) {
  std::lock_guard g(st.world_mu);
  if (st.world.load(std::memory_order_relaxed) == w) return true;
  if (st.server) {
    // OpenSSL seals tickets with the keys of the connection's first
    // context (its session context), never an SNI name's.
    unsigned char keys[80];  // name (16), HMAC key (32), AES key (32)
    const bool ok = RAND_bytes(keys, sizeof keys) == 1 &&
                    SSL_CTX_set_tlsext_ticket_keys(st.ctx.get(), keys, sizeof keys) == 1;
    OPENSSL_cleanse(keys, sizeof keys);
    if (!ok) return false;
    if (w != 0) {
      SSL_CTX_set_session_ticket_cb(st.ctx.get(), stamp_ticket, open_ticket, nullptr);
    } else {
      SSL_CTX_set_session_ticket_cb(st.ctx.get(), nullptr, nullptr, nullptr);
    }
  }
  st.world.store(w, std::memory_order_relaxed);
  return true;
}

}  // namespace

void watch_worlds() {
  static const bool watching = (io::detail::watch_virtual_net(on_world), true);
  (void)watching;
}

bool enter_world(ContextState& st, SSL* ssl) {
  std::uint64_t w = g_world.load(std::memory_order_relaxed);
  if (w != 0 && !io::detail::on_virtual_driver()) w = 0;  // not on the world's worker
  // Relaxed: a mismatch is settled under world_mu, which rekey rechecks.
  if (w != st.world.load(std::memory_order_relaxed) && !rekey(st, w)) return false;
  if (w != 0 && !st.server) SSL_set_psk_use_session_callback(ssl, stamp_resumed);
  return true;
}

}  // namespace duet::tls::detail
