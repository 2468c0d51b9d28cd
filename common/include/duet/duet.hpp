// duet/duet.hpp: everything (link duet::duet).
#pragma once

#include "duet/config.hpp"
#include "duet/join_handle.hpp"
#include "duet/poll.hpp"
#include "duet/runtime.hpp"
#include "duet/stackful.hpp"
#include "duet/stackless.hpp"
#include "duet/topology.hpp"
#include "duet/wait.hpp"
#include "duet/waker.hpp"
#include "duet/yield.hpp"
