#include "common/allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ember {

// Why: each training step allocates the same large arrays again (activations, gates, im2col panels, gradients).
// glibc serves blocks over its mmap threshold with fresh mmaps and trims the heap top when much is free, so every
// step pays a page fault per 4 KiB on first touch: measured 5 ms of a 7 ms LSTM forward (T100 B32 H128). With a
// 32 MiB mmap threshold (glibc's maximum) and a 256 MiB trim threshold, freed blocks are reused by the next step.
// Blocks over 32 MiB are still mapped and unmapped as before; at most 256 MiB of free heap is kept.
bool tune_allocator() {
#if defined(__GLIBC__)
    const char* flag = std::getenv("EMBER_MALLOC_TUNING");
    if (flag != nullptr && std::strcmp(flag, "0") == 0) return false;
    const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
    const bool trim_ok = mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
    return mmap_ok && trim_ok;
#else
    return false;
#endif
}

}  // namespace ember
