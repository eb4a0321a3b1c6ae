#include "common/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <new>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ember {

namespace {

// EMBER_MALLOC_TUNING=0 turns off both ways of keeping freed memory: the glibc settings and the host block cache.
bool keeps_freed_memory() {
    static const bool keeps = [] {
        const char* flag = std::getenv("EMBER_MALLOC_TUNING");
        return flag == nullptr || std::strcmp(flag, "0") != 0;
    }();
    return keeps;
}

}  // namespace

// Why: each training step allocates the same large arrays again (activations, gates, im2col panels, gradients).
// glibc serves blocks over its mmap threshold with fresh mmaps and trims the heap top when much is free, so every
// step pays a page fault per 4 KiB on first touch: measured 5 ms of a 7 ms LSTM forward (T100 B32 H128). With a
// 32 MiB mmap threshold (glibc's maximum) and a 256 MiB trim threshold, freed blocks are reused by the next step.
// Blocks over 32 MiB are still mapped and unmapped as before; at most 256 MiB of free heap is kept.
bool tune_allocator() {
#if defined(__GLIBC__)
    if (!keeps_freed_memory()) return false;
    const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
    const bool trim_ok = mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
    return mmap_ok && trim_ok;
#else
    return false;
#endif
}

namespace {

// Free blocks by size. Never destroyed (leaked on purpose): arrays that outlive the interpreter's module teardown
// still hand their blocks back here.
struct HostCache {
    std::mutex mutex;
    std::multimap<size_t, void*> free_blocks;
    size_t cached_bytes = 0;
    int64_t hits = 0, misses = 0;
};

HostCache& host_cache() {
    static HostCache* cache = new HostCache;
    return *cache;
}

// Sizes are kept in 64 KiB steps, so that arrays whose sizes differ by a few rows share blocks.
size_t rounded(size_t bytes) { return (std::max<size_t>(bytes, 1) + 65535) / 65536 * 65536; }

}  // namespace

void* host_block_take(size_t bytes) {
    const size_t size = rounded(bytes);
    if (keeps_freed_memory()) {
        HostCache& c = host_cache();
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end()) {
            void* block = it->second;
            c.free_blocks.erase(it);
            c.cached_bytes -= size;
            ++c.hits;
            return block;
        }
        ++c.misses;
    }
    void* block = std::aligned_alloc(64, size);
    if (block == nullptr) {
        host_cache_clear();  // the cache may be what the allocation lacked
        block = std::aligned_alloc(64, size);
        if (block == nullptr) throw std::bad_alloc();
    }
    return block;
}

void host_block_give(void* block, size_t bytes) {
    const size_t size = rounded(bytes);
    if (!keeps_freed_memory() || size > kHostCacheLimit) {
        std::free(block);
        return;
    }
    HostCache& c = host_cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    // Over the limit, the largest cached blocks go first: they are the least likely to be asked for again soon.
    while (c.cached_bytes + size > kHostCacheLimit && !c.free_blocks.empty()) {
        auto last = std::prev(c.free_blocks.end());
        std::free(last->second);
        c.cached_bytes -= last->first;
        c.free_blocks.erase(last);
    }
    c.free_blocks.emplace(size, block);
    c.cached_bytes += size;
}

HostCacheStats host_cache_stats() {
    HostCache& c = host_cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return {c.cached_bytes, c.free_blocks.size(), c.hits, c.misses, keeps_freed_memory()};
}

void host_cache_clear() {
    HostCache& c = host_cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    for (auto& kv : c.free_blocks) std::free(kv.second);
    c.free_blocks.clear();
    c.cached_bytes = 0;
}

}  // namespace ember
