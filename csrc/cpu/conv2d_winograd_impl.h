// Bodies of the Winograd F(2x2, 3x3) convolution (conv2d_winograd.h). Included only by
// conv2d_winograd_{generic,avx2,avx512}.cpp, each of which ends with EMBER_CONV_WINOGRAD(its name, its vector bytes);
// internal linkage keeps each ISA's copy apart. The products are gemm_panels (the GEMM's own micro-kernel).
#pragma once

#include <algorithm>
#include <memory>
#include <type_traits>

#include "../common/parallel.h"
#include "conv2d_winograd.h"
#include "gemm.h"
#include "simd_vector.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct WinogradConv {
    static constexpr int64_t kLanes = Bytes / int64_t(sizeof(T));
    using Vec = typename VectorOf<T, Bytes>::type;
    using VecU = typename VectorOf<T, Bytes>::unaligned;

    // X is Vec (kLanes channels) or T (one, for a ragged tail).
    template <class X>
    static X load(const T* p) {
        if constexpr (std::is_same_v<X, T>)
            return *p;
        else
            return *reinterpret_cast<const VecU*>(p);
    }
    template <class X>
    static void store(T* p, X v) {
        if constexpr (std::is_same_v<X, T>)
            *p = v;
        else
            *reinterpret_cast<VecU*>(p) = v;
    }

    // The tiling of one call: tiles of 2x2 outputs, in blocks of `block` tiles; V and M rows `ldv`/`ldm` apart and
    // their 16 matrices `block` rows apart; U's 16 packed matrices `u_stride` apart.
    struct Plan {
        int64_t tiles_h, tiles_w, tiles, block, ldv, ldm, nr, ldp, u_stride;
        explicit Plan(const Conv2dGeom& g) {
            tiles_h = (g.ho + 1) / 2, tiles_w = (g.wo + 1) / 2, tiles = g.n * tiles_h * tiles_w;
            ldv = g.c, ldm = g.o;
            // Zen 3, 2 threads: 6 to 30 tiles alike at 128 and 256 channels, 18-30 ahead at 32 and 64 (by 5-15%),
            // 64 and more behind there by 25%.
            const int64_t per_tile = 16 * (ldv + ldm) * int64_t(sizeof(T));
            block = std::clamp<int64_t>(l2_cache_bytes() / per_tile, 12, 30);
            nr = gemm_panel_width<T>(), ldp = g.c * nr, u_stride = (g.o + nr - 1) / nr * ldp;
        }
    };

    // U = G w G^T for every channel pair, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], packed per xi.
    static std::unique_ptr<T[]> transform_weights(const Conv2dGeom& g, const Plan& p, const T* w) {
        const int64_t C = g.c, O = g.o, CO = C * O;
        std::unique_ptr<T[]> u(new T[size_t(16 * CO)]), packed(new T[size_t(16 * p.u_stride)]);
#pragma omp parallel for num_threads(CO >= 16384 ? get_num_threads() : 1) schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            const T* tap = w + c * O;  // tap (i, j) of channel pair (c, o) at tap[(3i + j) * CO + o]
            T* dst = u.get() + c * O;  // entry xi of (c, o) at dst[xi * CO + o]
#pragma omp simd
            for (int64_t o = 0; o < O; ++o) {
                T r[4][3], half = T(0.5);
                for (int j = 0; j < 3; ++j) {
                    const T g0 = tap[j * CO + o], g1 = tap[(3 + j) * CO + o], g2 = tap[(6 + j) * CO + o];
                    r[0][j] = g0, r[1][j] = half * (g0 + g1 + g2), r[2][j] = half * (g0 - g1 + g2), r[3][j] = g2;
                }
                for (int i = 0; i < 4; ++i) {
                    dst[(4 * i + 0) * CO + o] = r[i][0];
                    dst[(4 * i + 1) * CO + o] = half * (r[i][0] + r[i][1] + r[i][2]);
                    dst[(4 * i + 2) * CO + o] = half * (r[i][0] - r[i][1] + r[i][2]);
                    dst[(4 * i + 3) * CO + o] = r[i][2];
                }
            }
        }
        for (int xi = 0; xi < 16; ++xi)
            gemm_pack_panels<T>(C, O, u.get() + xi * CO, O, 1, p.nr, packed.get() + xi * p.u_stride);
        return packed;
    }

    // V = B^T d B for channels [c, c + lanes of X) of one tile, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1];
    // src[4i + j] is input pixel (i, j) of the tile, entry xi goes to dst + xi * stride.
    template <class X>
    static void input_lanes(const T* const* src, int64_t c, T* dst, int64_t stride) {
        X t[16];
        for (int j = 0; j < 4; ++j) {
            const X d0 = load<X>(src[j] + c), d1 = load<X>(src[4 + j] + c), d2 = load<X>(src[8 + j] + c),
                    d3 = load<X>(src[12 + j] + c);
            t[j] = d0 - d2, t[4 + j] = d1 + d2, t[8 + j] = d2 - d1, t[12 + j] = d1 - d3;
        }
        for (int i = 0; i < 4; ++i) {
            const X* r = t + 4 * i;
            store<X>(dst + (4 * i + 0) * stride + c, r[0] - r[2]);
            store<X>(dst + (4 * i + 1) * stride + c, r[1] + r[2]);
            store<X>(dst + (4 * i + 2) * stride + c, r[2] - r[1]);
            store<X>(dst + (4 * i + 3) * stride + c, r[1] - r[3]);
        }
    }

    // Tile q's position: image n, top-left output pixel (oh, ow).
    static void tile_at(const Plan& p, int64_t q, int64_t& n, int64_t& oh, int64_t& ow) {
        const int64_t per_image = p.tiles_h * p.tiles_w, r = q % per_image;
        n = q / per_image, oh = 2 * (r / p.tiles_w), ow = 2 * (r % p.tiles_w);
    }

    // V rows of tiles [q0, q0 + count), its 16 matrices `stride` apart: pixels outside the image read `zeros` (C of
    // them).
    static void input_tiles(const Conv2dGeom& g, const Plan& p, const T* x, const T* zeros, int64_t q0,
                            int64_t count, T* v, int64_t stride) {
        const int64_t full = g.c / kLanes * kLanes;
        for (int64_t t = 0; t < count; ++t) {
            int64_t n, oh, ow;
            tile_at(p, q0 + t, n, oh, ow);
            const T* src[16];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) {
                    const int64_t h = oh - g.pt + i, w = ow - g.pl + j;
                    src[4 * i + j] = h >= 0 && h < g.h && w >= 0 && w < g.w ? x + ((n * g.h + h) * g.w + w) * g.c
                                                                            : zeros;
                }
            T* dst = v + t * p.ldv;
            for (int64_t c = 0; c < full; c += kLanes) input_lanes<Vec>(src, c, dst, stride);
            for (int64_t c = full; c < g.c; ++c) input_lanes<T>(src, c, dst, stride);
        }
    }

    // y's 2x2 pixels = A^T M A for channels [o, o + lanes of X), A^T = [1 1 1 0; 0 1 -1 -1], then the epilogue;
    // m[xi * stride] is entry xi, dst[2i + j] output pixel (i, j) or null past the image's edge.
    template <int Kind, class X>
    static void output_lanes(const T* m, int64_t stride, int64_t o, T* const* dst, const StoreEpilogue<T>& ep) {
        X s0[4], s1[4];
        for (int j = 0; j < 4; ++j) {
            const X m0 = load<X>(m + j * stride + o), m1 = load<X>(m + (4 + j) * stride + o),
                    m2 = load<X>(m + (8 + j) * stride + o), m3 = load<X>(m + (12 + j) * stride + o);
            s0[j] = m0 + m1 + m2, s1[j] = m1 - m2 - m3;
        }
        X out[4] = {s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3], s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]};
        const X bias = ep.bias ? load<X>(ep.bias + o) : X{};
        for (int k = 0; k < 4; ++k)
            if (dst[k]) store<X>(dst[k] + o, activate_as<Kind>(out[k] + bias, ep.alpha));
    }

    template <int Kind>
    static void output_tiles(const Conv2dGeom& g, const Plan& p, const T* m, int64_t q0, int64_t count, T* y,
                             const StoreEpilogue<T>& ep) {
        const int64_t stride = p.block * p.ldm, full = g.o / kLanes * kLanes;
        for (int64_t t = 0; t < count; ++t) {
            int64_t n, oh, ow;
            tile_at(p, q0 + t, n, oh, ow);
            T* dst[4];
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j)
                    dst[2 * i + j] = oh + i < g.ho && ow + j < g.wo ? y + ((n * g.ho + oh + i) * g.wo + ow + j) * g.o
                                                                    : nullptr;
            const T* src = m + t * p.ldm;
            for (int64_t o = 0; o < full; o += kLanes) output_lanes<Kind, Vec>(src, stride, o, dst, ep);
            for (int64_t o = full; o < g.o; ++o) output_lanes<Kind, T>(src, stride, o, dst, ep);
        }
    }

    template <int Kind>
    static void run(const Conv2dGeom& g, const Plan& p, const T* x, const T* u, T* y, const StoreEpilogue<T>& ep) {
        const std::unique_ptr<T[]> zeros(new T[size_t(g.c)]());
        const int64_t blocks = (p.tiles + p.block - 1) / p.block;
        const int nt = work_estimate({p.tiles, g.c, g.o}) < 32768 ? 1 : get_num_threads();
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            std::unique_ptr<T[]> v(new T[size_t(16 * p.block * p.ldv)]), m(new T[size_t(16 * p.block * p.ldm)]);
#pragma omp for schedule(static)
            for (int64_t b = 0; b < blocks; ++b) {
                const int64_t q0 = b * p.block, count = std::min(p.block, p.tiles - q0);
                input_tiles(g, p, x, zeros.get(), q0, count, v.get(), p.block * p.ldv);
                for (int xi = 0; xi < 16; ++xi)
                    gemm_panels<T>(count, g.o, g.c, v.get() + xi * p.block * p.ldv, p.ldv, u + xi * p.u_stride,
                                   p.ldp, p.nr, m.get() + xi * p.block * p.ldm, p.ldm);
                output_tiles<Kind>(g, p, m.get(), q0, count, y, ep);
            }
        }
    }

    static void forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& ep) {
        const Plan p(g);
        const std::unique_ptr<T[]> u = transform_weights(g, p, w);
        if (ep.kind == StoreEpilogue<T>::kRelu) return run<StoreEpilogue<T>::kRelu>(g, p, x, u.get(), y, ep);
        if (ep.kind == StoreEpilogue<T>::kLeakyRelu)
            return run<StoreEpilogue<T>::kLeakyRelu>(g, p, x, u.get(), y, ep);
        run<StoreEpilogue<T>::kIdentity>(g, p, x, u.get(), y, ep);
    }

    // ---- weight gradient: dU[xi] (C, O) = V[xi]^T @ dM[xi] over all tiles, then gw = G^T dU G ----

    // dM = A dY A^T for channels [o, o + lanes of X) of one tile (A = [1 0; 1 1; 1 -1; 0 -1]): src[2i + j] is its
    // output pixel (i, j), entry xi goes to dst + xi * stride.
    template <class X>
    static void grad_lanes(const T* const* src, int64_t o, T* dst, int64_t stride) {
        const X d00 = load<X>(src[0] + o), d01 = load<X>(src[1] + o), d10 = load<X>(src[2] + o),
                d11 = load<X>(src[3] + o);
        const X r[4][2] = {{d00, d01}, {d00 + d10, d01 + d11}, {d00 - d10, d01 - d11}, {-d10, -d11}};
        for (int i = 0; i < 4; ++i) {
            store<X>(dst + (4 * i + 0) * stride + o, r[i][0]);
            store<X>(dst + (4 * i + 1) * stride + o, r[i][0] + r[i][1]);
            store<X>(dst + (4 * i + 2) * stride + o, r[i][0] - r[i][1]);
            store<X>(dst + (4 * i + 3) * stride + o, -r[i][1]);
        }
    }

    // dM rows of tiles [q0, q0 + count), its 16 matrices `stride` apart: outputs past the edge read `zeros`.
    static void grad_tiles(const Conv2dGeom& g, const Plan& p, const T* gy, const T* zeros, int64_t q0,
                           int64_t count, T* dm, int64_t stride) {
        const int64_t full = g.o / kLanes * kLanes;
        for (int64_t t = 0; t < count; ++t) {
            int64_t n, oh, ow;
            tile_at(p, q0 + t, n, oh, ow);
            const T* src[4];
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j)
                    src[2 * i + j] = oh + i < g.ho && ow + j < g.wo
                                         ? gy + ((n * g.ho + oh + i) * g.wo + ow + j) * g.o
                                         : zeros;
            T* dst = dm + t * p.ldm;
            for (int64_t o = 0; o < full; o += kLanes) grad_lanes<Vec>(src, o, dst, stride);
            for (int64_t o = full; o < g.o; ++o) grad_lanes<T>(src, o, dst, stride);
        }
    }

    // gw (3, 3, C, O) = G^T dU G per channel pair; dU's entry xi of (c, o) at du[xi * C * O + c * O + o].
    static void weights_from_transformed(const Conv2dGeom& g, const T* du, T* gw) {
        const int64_t C = g.c, O = g.o, CO = C * O;
#pragma omp parallel for num_threads(CO >= 16384 ? get_num_threads() : 1) schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            const T* src = du + c * O;
            T* tap = gw + c * O;
#pragma omp simd
            for (int64_t o = 0; o < O; ++o) {
                T r[3][4], half = T(0.5);
                for (int j = 0; j < 4; ++j) {
                    const T u0 = src[j * CO + o], u1 = src[(4 + j) * CO + o], u2 = src[(8 + j) * CO + o],
                            u3 = src[(12 + j) * CO + o];
                    r[0][j] = u0 + half * (u1 + u2), r[1][j] = half * (u1 - u2), r[2][j] = half * (u1 + u2) + u3;
                }
                for (int i = 0; i < 3; ++i) {
                    tap[(3 * i + 0) * CO + o] = r[i][0] + half * (r[i][1] + r[i][2]);
                    tap[(3 * i + 1) * CO + o] = half * (r[i][1] - r[i][2]);
                    tap[(3 * i + 2) * CO + o] = half * (r[i][1] + r[i][2]) + r[i][3];
                }
            }
        }
    }

    // Tiles go in chunks of a size fixed by the shape (not the thread count): each chunk's V and dM are built by all
    // threads, then the 16 products of the chunk accumulate onto dU, each element's sum in the GEMM's fixed order.
    static void backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
        const Plan p(g);
        const int64_t C = g.c, O = g.o, per_tile = 16 * (p.ldv + p.ldm) * int64_t(sizeof(T));
        // 4 MiB of V and dM per chunk, 256 tiles at least (the products' reduction length). Zen 3, 2 threads, ms,
        // chunks of 2 / 4 / 8 MiB: 128->128 28x28 N32 29.9 / 28.3 / 33.4, 64->64 56x56 N16 19.8 / 19.2 / 22.2;
        // 256 tiles against 64 at 256->256 14x14: 24.8 against 25.0; 32->32 56x56: 17.0 at 512, 22.5 at 256.
        const int64_t chunk = std::min(p.tiles, std::max<int64_t>((int64_t(4) << 20) / per_tile, 256));
        std::unique_ptr<T[]> v(new T[size_t(16 * chunk * p.ldv)]), dm(new T[size_t(16 * chunk * p.ldm)]);
        std::unique_ptr<T[]> du(new T[size_t(16 * C * O)]);
        const std::unique_ptr<T[]> zeros(new T[size_t(std::max(C, O))]());
        for (int64_t q0 = 0; q0 < p.tiles; q0 += chunk) {
            const int64_t count = std::min(chunk, p.tiles - q0);
            const int nt = work_estimate({count, C + O}) < 32768 ? 1 : get_num_threads();
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t b = 0; b < count; b += 8) {
                const int64_t n = std::min<int64_t>(8, count - b);
                input_tiles(g, p, x, zeros.get(), q0 + b, n, v.get() + b * p.ldv, chunk * p.ldv);
                grad_tiles(g, p, gy, zeros.get(), q0 + b, n, dm.get() + b * p.ldm, chunk * p.ldm);
            }
            gemm_batched<T>(16, C, O, count, T(1), v.get(), chunk * p.ldv, 1, p.ldv, dm.get(), chunk * p.ldm, p.ldm,
                            1, q0 == 0 ? T(0) : T(1), du.get(), C * O, O, 1);
        }
        weights_from_transformed(g, du.get(), gw);
    }
};

}  // namespace
}  // namespace ember

#define EMBER_CONV_WINOGRAD(isa, bytes)                                                                          \
    namespace ember {                                                                                            \
    ConvWinogradKernels<float> conv_winograd_##isa##_f32() {                                                    \
        return {&WinogradConv<float, bytes>::forward, &WinogradConv<float, bytes>::backward_weight};             \
    }                                                                                                            \
    ConvWinogradKernels<double> conv_winograd_##isa##_f64() {                                                   \
        return {&WinogradConv<double, bytes>::forward, &WinogradConv<double, bytes>::backward_weight};           \
    }                                                                                                            \
    }
