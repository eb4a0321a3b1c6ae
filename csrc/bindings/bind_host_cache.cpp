// Bindings of the host block cache (common/allocator.h): arrays whose memory the cache owns, and its state.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/allocator.h"

namespace py = pybind11;

namespace ember {

namespace {

// The block behind one array; its capsule hands it back to the cache when the array (and every view) is gone.
struct CachedBlock {
    void* data;
    size_t bytes;
};

py::array cached_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
    // span: the item size times every nonzero dimension, the largest stride the array's strides are computed from;
    // it must fit a signed size even when a zero dimension makes the array empty (pybind11 computes the strides
    // before NumPy sees the shape: (0, 2^62) of float64 overflowed them).
    const size_t limit = size_t(std::numeric_limits<py::ssize_t>::max());
    size_t span = size_t(dtype.itemsize()), count = 1;
    for (py::ssize_t d : shape) {
        if (d < 0) throw std::invalid_argument("empty: negative dimension " + std::to_string(d) + " in the shape");
        if (d > 0 && span > limit / size_t(d)) throw std::invalid_argument("empty: the shape's size overflows");
        if (d > 0) span *= size_t(d);
        count *= size_t(d);
    }
    const size_t bytes = count * size_t(dtype.itemsize());
    // Past 1 TiB no machine has the memory, and AddressSanitizer aborts on such a request instead of failing it.
    constexpr size_t kMaxBytes = size_t(1) << 40;
    if (bytes > kMaxBytes)
        throw std::invalid_argument("empty: " + std::to_string(bytes) + " bytes asked, more than the 1 TiB allowed");
    auto* block = new CachedBlock{nullptr, bytes};
    try {
        block->data = host_block_take(bytes);
    } catch (...) {
        delete block;
        throw;
    }
    py::capsule owner(block, [](void* p) {
        auto* b = static_cast<CachedBlock*>(p);
        host_block_give(b->data, b->bytes);
        delete b;
    });
    return py::array(dtype, shape, block->data, owner);
}

}  // namespace

void bind_host_cache(py::module_& m) {
    m.def("empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialized C-contiguous array from the host block cache: when it and its views are gone, the block "
          "is kept for the next array of that size (at most 1 GiB of free blocks; EMBER_MALLOC_TUNING=0: none).");
    m.def(
        "host_cache_info",
        [] {
            const HostCacheStats s = host_cache_stats();
            py::dict d;
            d["enabled"] = s.enabled;
            d["cached_bytes"] = s.cached_bytes;
            d["cached_blocks"] = s.cached_blocks;
            d["hits"] = s.hits;
            d["misses"] = s.misses;
            d["limit_bytes"] = kHostCacheLimit;
            return d;
        },
        "The host block cache: free bytes and blocks it keeps, blocks reused (hits) and newly allocated (misses).");
    m.def("host_cache_clear", &host_cache_clear, "Frees every block the host cache keeps.");
}

}  // namespace ember
