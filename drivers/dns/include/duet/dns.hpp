// duet/dns.hpp: name resolution and connect-by-name (library duet::dns,
// c-ares). A program that does not include this needs no libcares.
#pragma once

#include "duet/dns/resolver.hpp"
