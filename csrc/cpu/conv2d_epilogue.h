// What a convolution kernel does to each output as it stores it (the rows and direct forwards): + bias (O,) when not
// null, then kIdentity, kRelu or kLeakyRelu (slope alpha), with activation.cpp's rules (NaN passes through).
#pragma once

namespace ember {

template <typename T>
struct StoreEpilogue {
    enum Kind { kIdentity, kRelu, kLeakyRelu };
    const T* bias = nullptr;
    Kind kind = kIdentity;
    T alpha = T(0);
};

// The activation `Kind` of r, a vector (simd_vector.h) or one T, whose bias is already added.
template <int Kind, typename V, typename T>
inline V activate_as(V r, T alpha) {
    if constexpr (Kind == StoreEpilogue<T>::kRelu) {
        return r <= T(0) ? V{} : r;  // '<=': NaN falls through
    } else if constexpr (Kind == StoreEpilogue<T>::kLeakyRelu) {
        return r * (r > T(0) ? V{} + T(1) : V{} + alpha);
    } else {
        (void)alpha;
        return r;
    }
}

// The same with the kind read from the epilogue, for loops where that test is not the cost.
template <typename V, typename T>
inline V activate_stored(const StoreEpilogue<T>& ep, V r) {
    if (ep.kind == StoreEpilogue<T>::kRelu) return activate_as<StoreEpilogue<T>::kRelu>(r, ep.alpha);
    if (ep.kind == StoreEpilogue<T>::kLeakyRelu) return activate_as<StoreEpilogue<T>::kLeakyRelu>(r, ep.alpha);
    return r;
}

}  // namespace ember
