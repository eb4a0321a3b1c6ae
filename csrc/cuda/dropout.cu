#include "dropout.h"

#include "exec.cuh"

namespace ember {
namespace cuda {
namespace {

EMBER_HD void mul_hi_lo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
    const uint64_t p = uint64_t(a) * b;
    hi = uint32_t(p >> 32);
    lo = uint32_t(p);
}

// Philox4x32-10: word `lane` of the block at `counter` under key (k0, k1).
EMBER_HD uint32_t philox4x32_10(uint64_t counter, uint32_t k0, uint32_t k1, int lane) {
    uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, lo0, hi1, lo1;
        mul_hi_lo(0xD2511F53u, c0, hi0, lo0);
        mul_hi_lo(0xCD9E8D57u, c2, hi1, lo1);
        const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;  // selects: an indexed array would go to local memory
}

template <typename T>
struct DropoutMask {
    T* out;
    uint64_t threshold, seed, offset;
    T scale;
    EMBER_HD void operator()(int64_t i) const {
        const uint64_t q = offset + uint64_t(i);
        const uint32_t u = philox4x32_10(q / 4, uint32_t(seed), uint32_t(seed >> 32), int(q % 4));
        out[i] = uint64_t(u) >= threshold ? scale : T(0);
    }
};

}  // namespace

template <class X, typename T>
void dropout_mask(const Ctx& ctx, int64_t n, T* out, double rate, uint64_t seed, uint64_t offset) {
    const uint64_t threshold = uint64_t(rate * 4294967296.0);
    const T scale = rate < 1.0 ? T(1.0 / (1.0 - rate)) : T(0);  // rate 1 keeps nothing
    X{ctx}.for_each(n, DropoutMask<T>{out, threshold, seed, offset, scale});
}

#define EMBER_CUDA_DROPOUT_INSTANTIATE(X, T) \
    template void dropout_mask<X, T>(const Ctx&, int64_t, T*, double, uint64_t, uint64_t);
EMBER_CUDA_FOR_EXECS(EMBER_CUDA_DROPOUT_INSTANTIATE)

}  // namespace cuda
}  // namespace ember
