// duet/export.hpp: which of duet's symbols a program may link to.
//
// duet's libraries are compiled with -fvisibility=hidden: a symbol defined
// in a .cpp file is private to its library unless its declaration carries
// DUET_API. Public headers mark what they declare out of line (and what the
// other duet libraries use of the core); everything else stays internal,
// so a shared library's dynamic symbol table is its ABI and nothing more.
// ELF needs no import/export distinction: the same attribute serves the
// library's build and its users'.
#pragma once

#define DUET_API [[gnu::visibility("default")]]
