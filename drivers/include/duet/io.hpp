// duet/io.hpp: sockets, files and the I/O driver (link duet::drivers).
#pragma once

#include "duet/fs/file.hpp"
#include "duet/io/buffered.hpp"
#include "duet/io/futures.hpp"
#include "duet/io/result.hpp"
#include "duet/io/stats.hpp"
#include "duet/io/stream.hpp"
#include "duet/net/address.hpp"
#include "duet/net/sendfile.hpp"
#include "duet/net/socket.hpp"
#include "duet/net/split.hpp"
#include "duet/net/tcp.hpp"
#include "duet/net/udp.hpp"
#include "duet/net/unix.hpp"
