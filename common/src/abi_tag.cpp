// The library's ABI tag (duet/detail/abi_tag.hpp): the one symbol that
// programs compiled against these headers, with this library's
// DUET_CHECK_TRANSITIONS, reference.
#include "duet/detail/task/state.hpp"

extern "C" {
const char DUET_ABI_TAG = 0;
}
