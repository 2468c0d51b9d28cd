// duet/stackful.hpp: the stackful backend: fibers.
#pragma once

#include "duet/stackful/fiber.hpp"
#include "duet/stackful/introspect.hpp"
#include "duet/stackful/stack.hpp"
#include "duet/wait.hpp"
