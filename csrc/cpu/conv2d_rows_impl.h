// Bodies of the chunked convolution (conv2d_rows.h): the drivers (the plan, the padded images, the forward, the weight
// gradient's jobs and partial sums) over the register tiles of conv2d_rows_tiles.h. Included only by
// conv2d_rows_{generic,avx2,avx512}.cpp, each of which ends with EMBER_CONV_ROWS(its name, its vector bytes); internal
// linkage keeps each ISA's copy apart.
#pragma once

#include <omp.h>

#include <algorithm>
#include <vector>

#include "../common/parallel.h"
#include "conv2d_rows.h"
#include "conv2d_rows_tiles.h"
#include "gemm.h"

namespace ember {
namespace {

template <typename T, int Bytes>
struct RowsConv : RowsTiles<T, Bytes> {
    // The tiles' sizes, types and table by their plain names (members of a dependent base are not found otherwise).
    using Base = RowsTiles<T, Bytes>;
    using Base::kLanes, Base::kAcc, Base::kMaxNv, Base::kSlidingKw, Base::kMaxSliding, Base::tiles;
    using typename Base::Vec;
    using typename Base::TileStore;
    using typename Base::ForwardTile;

    // Weight-gradient tiles of at most 2 vectors x 6 taps where there are 12 accumulators (AVX2), not 4 x 3: each
    // pixel then loads half as many grad_y bytes per FMA. Zen 3, 2 threads, fwd+bwd ms, 3x3 same, N = 32 (16 for
    // the 56x56 one): 128->128 28x28 159 -> 152, 256->256 14x14 146 -> 140, 64->64 56x56 212 -> 190, 128->128 14x14
    // 43.0 -> 37.4, 64->128 56x56 211 -> 183, 1x1 256->256 19.5 -> 19.0, 16->32 31x31 6.5 = 6.6. The same change in
    // the forward tiles was mixed (-5% to +5%) and was left out.
    static constexpr int kMaxWeightNv = Bytes == 64 ? kMaxNv : 2;
    static constexpr int64_t kSplitTiles = 32768;  // from this K * O on, threads split the weight gradient's tiles
    // Below it, groups of output rows with a partial sum each: enough groups for 16 threads. Each partial is zeroed,
    // then added into the result: with 64 of them these took a sixth of LeNet's 6->16 weight gradient (Zen 5, 2
    // threads, ms, 64 / 16 / 8 partials: 6->16 5x5 0.096 / 0.079 / 0.077, 16->32 3x3 31x31 0.545 / 0.500 / 0.495).
    static constexpr int64_t kParts = 16;

    // Sizes for one geometry. The window of output pixel (oh, ow) in the (padded) image is KH runs (kernel rows) of
    // KW * C contiguous taps, dh rows apart, from ((oh sh) Wp + ow sw) C. O channels in `vecs` vectors, split into
    // `otiles` balanced tiles of at most kMaxNv (80 floats: 3 + 2 vectors); the weight gradient's `wtiles` of at most
    // kMaxWeightNv.
    struct Plan {
        int64_t K, S, O, vecs, opad, otiles, wtiles, Hp, Wp, image, ldc, seg_stride, row_stride;
        bool padded;
        explicit Plan(const Conv2dGeom& g)
            : K(g.kh * g.kw * g.c), S(g.kw * g.c), O(g.o), Hp(g.h + g.pt + g.pb), Wp(g.w + g.pl + g.pr) {
            vecs = (O + kLanes - 1) / kLanes;
            opad = vecs * kLanes;
            otiles = (vecs + kMaxNv - 1) / kMaxNv;
            wtiles = (vecs + kMaxWeightNv - 1) / kMaxWeightNv;
            image = Hp * Wp * g.c;
            // A stride along an axis of one output is never taken (and may be any size): 1 keeps these in range.
            ldc = (g.wo > 1 ? g.sw : 1) * g.c;
            seg_stride = g.dh * Wp * g.c;
            row_stride = (g.ho > 1 ? g.sh : 1) * Wp * g.c;
            padded = g.pt || g.pb || g.pl || g.pr;
        }
        // Tile t of `tiles` (otiles or wtiles): its first vector v0 and its nv vectors.
        void channel_tile(int64_t t, int64_t tiles, int64_t& v0, int& nv) const {
            int64_t end;
            split_range(vecs, tiles, t, v0, end);
            nv = int(end - v0);
        }
        int threads(int64_t parallel_items, int64_t work) const {
            return work < 32768 ? 1 : int(std::min<int64_t>(get_num_threads(), parallel_items));
        }
    };

    // One thread's view of the images: x itself, or image n copied into a zero-bordered buffer when padded (kept
    // while consecutive rows come from the same image).
    struct Images {
        const Conv2dGeom& g;
        const Plan& p;
        const T* x;
        std::vector<T> buf;
        int64_t current = -1;
        Images(const Conv2dGeom& g_, const Plan& p_, const T* x_)
            : g(g_), p(p_), x(x_), buf(size_t(p_.padded ? p_.image : 0), T(0)) {}
        const T* operator()(int64_t n) {
            if (!p.padded) return x + n * g.h * g.w * g.c;
            if (n != current) {
                current = n;
                for (int64_t h = 0; h < g.h; ++h) {
                    const T* src = x + (n * g.h + h) * g.w * g.c;
                    std::copy(src, src + g.w * g.c, buf.data() + ((g.pt + h) * p.Wp + g.pl) * g.c);
                }
            }
            return buf.data();
        }
    };

    // Output rows (n, oh) are split among the threads; each row's pixels go in balanced tiles of at most kAcc / NV
    // (62 pixels at NV = 1: 21 + 21 + 20). Rows of at most kAcc / (2 NV) pixels go two to a tile (their outputs are
    // contiguous in y): LeNet's 6->16 layer has rows of 10 pixels, and 10 accumulators left the FMAs waiting on each
    // other (Zen 5, 1 thread, 5x5 6->16 at 10 / 20 pixels a row: 183 / 204 GFLOP/s).
    static void forward(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& ep) {
        const Plan p(g);
        const int64_t rows = g.n * g.ho;
        if (rows * g.wo == 0) return;
        std::vector<Vec> bias(size_t(ep.bias ? p.vecs : 0));
        for (int64_t o = 0; ep.bias && o < p.O; ++o) bias[size_t(o / kLanes)][o % kLanes] = ep.bias[o];
        // One channel vector and 5-wide kernel rows at stride 1 take the sliding tiles, every tile of the layer.
        const bool sliding = Bytes == 64 && p.vecs == 1 && g.kw == kSlidingKw && (g.sw == 1 || g.wo == 1) && g.dw == 1;
        // The weights per channel tile: K rows of the tile's NV vectors, zero past O; tile v0 at K * v0 lanes. Tap
        // k = (kh, kx, c) is row k, or row (kh, c, kx) for the sliding tiles (they read a channel's kernel row at
        // once).
        std::vector<Vec> wstore(size_t(p.K * p.vecs));
        T* wp = reinterpret_cast<T*>(wstore.data());
        for (int64_t t = 0; t < p.otiles; ++t) {
            int64_t v0;
            int nv;
            p.channel_tile(t, p.otiles, v0, nv);
            T* dst = wp + p.K * v0 * kLanes;
            for (int64_t k = 0; k < p.K; ++k) {
                const int64_t kh = k / p.S, kx = k % p.S / g.c, c = k % g.c;
                const int64_t row = sliding ? (kh * g.c + c) * g.kw + kx : k;
                for (int64_t e = 0; e < nv * kLanes; ++e) {
                    const int64_t o = v0 * kLanes + e;
                    dst[row * nv * kLanes + e] = o < p.O ? w[k * p.O + o] : T(0);
                }
            }
        }
        const int64_t max_nv = (p.vecs + p.otiles - 1) / p.otiles;
        const int64_t per_task = g.ho > 1 && max_nv <= 2 && 2 * g.wo * max_nv <= kAcc ? 2 : 1;
        const int64_t per_image = (g.ho + per_task - 1) / per_task, tasks = g.n * per_image;
        const int nt = p.threads(tasks, work_estimate({rows, g.wo, p.K, p.O}));
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            Images images(g, p, x);
            // Kernel rows that read only the zero border are skipped (a 'valid' layer's input gradient, run as the
            // transposed convolution padded by KH - 1, has them on KH - 1 of its rows at each edge).
            auto live_rows = [&](int64_t oh, int64_t& kh0, int64_t& kh1) {
                const int64_t top = oh * g.sh - g.pt;
                kh0 = std::min(g.kh, std::max<int64_t>(0, (-top + g.dh - 1) / g.dh));
                kh1 = std::max(kh0, std::min(g.kh, (g.h - top + g.dh - 1) / g.dh));
            };
            // Output rows [oh, oh + h) of image n, h of them to a tile (h = 2 only when a row fits half a tile).
            auto run_rows = [&](int64_t n, int64_t oh, int64_t h, int64_t kh0, int64_t kh1) {
                const T* src = images(n) + oh * p.row_stride + kh0 * p.seg_stride;
                T* yrow = y + (n * g.ho + oh) * g.wo * p.O;
                for (int64_t t = 0; t < p.otiles; ++t) {
                    int64_t v0;
                    int nv;
                    p.channel_tile(t, p.otiles, v0, nv);
                    const int64_t pr_max = kAcc / nv / h, ptiles = (g.wo + pr_max - 1) / pr_max;
                    const ForwardTile* fns = h == 2 ? tiles().pairs[nv - 1] : tiles().forward[nv - 1];
                    for (int64_t pt = 0; pt < ptiles; ++pt) {
                        int64_t ow0, ow1;
                        split_range(g.wo, ptiles, pt, ow0, ow1);
                        const int pr = int(ow1 - ow0);
                        const TileStore out{yrow + ow0 * p.O + v0 * kLanes, p.O, p.O - v0 * kLanes,
                                            ep.bias ? bias.data() + v0 : nullptr, &ep};
                        if (sliding)
                            tiles().sliding_forward[h - 1][pr - 1](kh1 - kh0, g.c, p.seg_stride, src + ow0 * p.ldc,
                                                                   p.row_stride, wp + kh0 * p.S * kLanes, out);
                        else
                            fns[pr - 1](kh1 - kh0, p.S, p.seg_stride, src + ow0 * p.ldc, p.ldc, p.row_stride,
                                        wp + (p.K * v0 + kh0 * p.S * nv) * kLanes, out);
                    }
                }
            };
#pragma omp for schedule(static)
            for (int64_t task = 0; task < tasks; ++task) {
                const int64_t n = task / per_image, oh = task % per_image * per_task;
                const int64_t h = std::min(per_task, g.ho - oh);
                int64_t kh0, kh1, kh0b, kh1b;
                live_rows(oh, kh0, kh1);
                if (h == 2) live_rows(oh + 1, kh0b, kh1b);
                if (h == 2 && kh0 == kh0b && kh1 == kh1b) {
                    run_rows(n, oh, 2, kh0, kh1);
                    continue;
                }
                run_rows(n, oh, 1, kh0, kh1);
                if (h == 2) run_rows(n, oh + 1, 1, kh0b, kh1b);
            }
        }
    }

    // One weight-gradient tile: KR taps from k0 (inside kernel row k0 / S), NV channel vectors from v0.
    struct WeightJob {
        int64_t k0, v0;
        int kr, nv;
    };

    static std::vector<WeightJob> weight_jobs(const Conv2dGeom& g, const Plan& p) {
        std::vector<WeightJob> jobs;
        for (int64_t t = 0; t < p.wtiles; ++t) {
            int64_t v0;
            int nv;
            p.channel_tile(t, p.wtiles, v0, nv);
            const int64_t kr_max = kAcc / nv, ktiles = (p.S + kr_max - 1) / kr_max;
            for (int64_t kh = 0; kh < g.kh; ++kh)
                for (int64_t kt = 0; kt < ktiles; ++kt) {
                    int64_t s0, s1;
                    split_range(p.S, ktiles, kt, s0, s1);
                    jobs.push_back({kh * p.S + s0, v0, int(s1 - s0), nv});
                }
        }
        return jobs;
    }

    // Jobs [0, count) over output rows [r0, r1), added into part (K x opad). When O is not a whole number of
    // vectors, a pixel's last vector also reads the next pixel's first channels, whose sums land in part's padding
    // lanes and are never read; an image whose last vector would read past the array (the last one, or more when
    // images are smaller than a vector) is copied out padded first (a copy of every image, six floats at a time at
    // LeNet's 1->6, took an eighth of its weight gradient).
    struct GradRows {
        const Conv2dGeom& g;
        const Plan& p;
        const T* gy;
        std::vector<T> buf;
        int64_t current = -1, ld_;
        GradRows(const Conv2dGeom& g_, const Plan& p_, const T* gy_)
            : g(g_), p(p_), gy(gy_), buf(size_t(p_.opad != p_.O ? g_.ho * g_.wo * p_.opad : 0), T(0)), ld_(p_.O) {}
        int64_t ld() const { return ld_; }  // of the image last returned
        const T* operator()(int64_t n) {
            const int64_t pixels = g.ho * g.wo;
            ld_ = p.O;
            if (buf.empty() || (n + 1) * pixels * p.O + (p.opad - p.O) <= g.n * pixels * p.O)
                return gy + n * pixels * p.O;
            ld_ = p.opad;
            if (n != current) {
                current = n;
                for (int64_t q = 0; q < pixels; ++q)
                    std::copy(gy + (n * pixels + q) * p.O, gy + (n * pixels + q + 1) * p.O, buf.data() + q * p.opad);
            }
            return buf.data();
        }
    };

    // `block`: at most this many output rows per pass of the jobs (their image rows and grad_y rows are what every
    // job streams; a pass that fits the L2 streams them from there rather than from L3).
    static void weight_rows(const Conv2dGeom& g, const Plan& p, Images& images, GradRows& grads,
                            const WeightJob* jobs, int64_t count, int64_t r0, int64_t r1, T* part,
                            int64_t block) {
        for (int64_t r = r0; r < r1;) {
            const int64_t n = r / g.ho, oh = r % g.ho, rows = std::min({r1 - r, g.ho - oh, block});
            const T* src = images(n) + oh * p.row_stride;
            const T* image_grad = grads(n);  // before ld(), which is of the image last returned
            const T* grad = image_grad + oh * g.wo * grads.ld();
            for (int64_t j = 0; j < count; ++j) {
                const WeightJob& job = jobs[j];
                const T* a = src + (job.k0 / p.S) * p.seg_stride + job.k0 % p.S;
                const bool slides = p.ldc == 1 && job.nv == 1 && job.kr <= kMaxSliding;
                (slides ? tiles().sliding[job.kr - 1] : tiles().weight[job.nv - 1][job.kr - 1])(
                    rows, g.wo, a, p.ldc, p.row_stride, grad + job.v0 * kLanes, grads.ld(), g.wo * grads.ld(),
                    part + job.k0 * p.opad + job.v0 * kLanes, p.opad);
            }
            r += rows;
        }
    }

    // Small K * O: the output rows in kParts fixed groups, each summed into its own partial, then the partials in
    // order. Large K * O: each thread owns a range of the tiles and runs every row through them. Either way the
    // order of additions depends on the shape alone.
    static void backward_weight(const Conv2dGeom& g, const T* gy, const T* x, T* gw) {
        const Plan p(g);
        const int64_t rows = g.n * g.ho, psize = p.K * p.opad;
        if (rows * g.wo == 0) {
            std::fill(gw, gw + p.K * p.O, T(0));
            return;
        }
        const std::vector<WeightJob> jobs = weight_jobs(g, p);
        const int64_t njobs = int64_t(jobs.size()), work = work_estimate({rows, g.wo, p.K, p.O});
        const bool split_tiles = p.K * p.O >= kSplitTiles;
        const int64_t parts = split_tiles ? 1 : std::min(rows, kParts);
        std::vector<Vec> partial(size_t(parts * psize / kLanes));
        T* part = reinterpret_cast<T*>(partial.data());
        const int nt = p.threads(split_tiles ? njobs : parts, work);
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            Images images(g, p, x);
            GradRows grads(g, p, gy);
            if (split_tiles) {
                // Every thread's jobs stream all of the images, a block of rows at a time: whole images (VGG's
                // 28x28x128 input and gradient: 860 KiB) came from L3 for each job. Zen 3 (512 KiB L2), 2 threads,
                // weight gradient ms: 3x3 128->128 28x28 N32 76 -> 57, 256->256 14x14 62 -> 56, 64->64 56x56
                // 81 -> 58, 128->128 14x14 (one image fits) 14.5 -> 14.4.
                const int64_t row_bytes = (p.row_stride + g.wo * p.opad) * int64_t(sizeof(T));
                const int64_t block = std::max<int64_t>(1, l2_cache_bytes() / 2 / row_bytes);
                int64_t j0, j1;
                split_range(njobs, nt, omp_get_thread_num(), j0, j1);
                if (j0 < j1) weight_rows(g, p, images, grads, jobs.data() + j0, j1 - j0, 0, rows, part, block);
            } else {
#pragma omp for schedule(static)
                for (int64_t q = 0; q < parts; ++q) {
                    int64_t r0, r1;
                    split_range(rows, parts, q, r0, r1);
                    weight_rows(g, p, images, grads, jobs.data(), njobs, r0, r1, part + q * psize, g.ho);
                }
            }
        }
#pragma omp parallel for num_threads(p.threads(p.K, parts * psize)) schedule(static)
        for (int64_t k = 0; k < p.K; ++k) {
            T* dst = gw + k * p.O;
            std::copy(part + k * p.opad, part + k * p.opad + p.O, dst);
            for (int64_t q = 1; q < parts; ++q)
                for (int64_t o = 0; o < p.O; ++o) dst[o] += part[q * psize + k * p.opad + o];
        }
    }
};

}  // namespace
}  // namespace ember

#define EMBER_CONV_ROWS(isa, bytes)                                                                              \
    namespace ember {                                                                                            \
    ConvRowsKernels<float> conv_rows_##isa##_f32() {                                                            \
        return {&RowsConv<float, bytes>::forward, &RowsConv<float, bytes>::backward_weight};                     \
    }                                                                                                            \
    ConvRowsKernels<double> conv_rows_##isa##_f64() {                                                           \
        return {&RowsConv<double, bytes>::forward, &RowsConv<double, bytes>::backward_weight};                   \
    }                                                                                                            \
    }
