#pragma once

#include <cstddef>
#include <cstdint>

namespace ember {

// Keeps large freed blocks in the process for reuse instead of returning them to the OS (glibc only; a no-op
// elsewhere or when EMBER_MALLOC_TUNING=0). Returns whether the settings were applied.
bool tune_allocator();

// The blocks glibc cannot keep (over its 32 MiB mmap ceiling), kept here instead: ember's CPU backend allocates
// outputs of that size with host_block_take and their arrays hand the block back with host_block_give when they
// die, so the next call of the same size gets it again, pages already mapped. 64-byte aligned. At most
// kHostCacheLimit bytes of free blocks are kept; EMBER_MALLOC_TUNING=0 turns the cache off (blocks go straight
// back to the OS). Thread-safe.
constexpr size_t kHostCacheLimit = size_t(1) << 30;
void* host_block_take(size_t bytes);
void host_block_give(void* block, size_t bytes);

struct HostCacheStats {
    size_t cached_bytes, cached_blocks;
    int64_t hits, misses;
    bool enabled;
};
HostCacheStats host_cache_stats();
void host_cache_clear();  // frees every cached block

}  // namespace ember
