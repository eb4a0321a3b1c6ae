#pragma once

namespace ember {

// Keeps large freed blocks in the process for reuse instead of returning them to the OS (glibc only; a no-op
// elsewhere or when EMBER_MALLOC_TUNING=0). Returns whether the settings were applied.
bool tune_allocator();

}  // namespace ember
