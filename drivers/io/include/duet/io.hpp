// duet/io.hpp: sockets, files and the I/O driver (link duet::drivers).
#pragma once

#include "duet/fs/file.hpp"
#include "duet/io/async_fd.hpp"
#include "duet/io/buffered.hpp"
#include "duet/io/deadline.hpp"
#include "duet/io/futures.hpp"
#include "duet/io/stats.hpp"
#include "duet/io/stream.hpp"
#include "duet/net/address.hpp"
#include "duet/net/sendfile.hpp"
#include "duet/net/socket.hpp"
#include "duet/net/split.hpp"
#include "duet/net/tcp.hpp"
#include "duet/net/udp.hpp"
#include "duet/net/unix.hpp"
#include "duet/process/child.hpp"
#include "duet/result.hpp"
#include "duet/signal/signal.hpp"

#include "duet/detail/driver.hpp"
#include "duet/export.hpp"

// A program that includes the I/O API loads the I/O library: this
// reference to its factory (duet/detail/driver.hpp) keeps libduet_drivers
// among the program's DT_NEEDED where the linker drops shared libraries no
// object refers to (--as-needed, the default of some toolchains; the
// linker's --undefined does not count as a reference). A static link
// extracts the factory by the --undefined in duet::drivers' link interface.
extern "C" {
DUET_API extern const duet::detail::IoDriverFactory duet_io_driver_factory;
}
namespace duet::io::detail {
namespace {
[[gnu::used]] const void* const driver_factory_ref = &duet_io_driver_factory;
}  // namespace
}  // namespace duet::io::detail
