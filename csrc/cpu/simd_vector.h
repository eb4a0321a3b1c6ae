// GCC vector extensions (not intrinsics) give one kernel source for every width: 16-byte vectors under the baseline
// flags, 32 under AVX2, 64 under AVX-512. Included by the *_impl.h kernel bodies that each ISA's file compiles with
// its own flags; internal linkage keeps those copies apart.
#pragma once

namespace ember {
namespace {

// GCC drops vector_size on a typedef of a template parameter, so the vector types are spelled per width here.
template <typename T, int Bytes>
struct VectorOf;
#define EMBER_VECTOR_OF(T, Bytes)                                                                  \
    template <>                                                                                    \
    struct VectorOf<T, Bytes> {                                                                    \
        typedef T type __attribute__((vector_size(Bytes)));                                        \
        typedef T unaligned __attribute__((vector_size(Bytes), aligned(sizeof(T)), __may_alias__)); \
    };
EMBER_VECTOR_OF(float, 16)
EMBER_VECTOR_OF(float, 32)
EMBER_VECTOR_OF(float, 64)
EMBER_VECTOR_OF(double, 16)
EMBER_VECTOR_OF(double, 32)
EMBER_VECTOR_OF(double, 64)
#undef EMBER_VECTOR_OF

}  // namespace
}  // namespace ember
