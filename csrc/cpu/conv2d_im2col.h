// One row of group gi's column matrix: row r is output pixel r (image-major), columns (kh, kw, cg), zeros where the
// window reads padding. With one group and no column dilation, a kernel row's kw taps are kw * C contiguous inputs:
// one copy. Serial; conv2d.cpp's im2col runs it over row ranges in parallel.
#pragma once

#include <cstdint>

#include "../common/shapes.h"

namespace ember {

template <typename T>
inline void im2col_row(const Conv2dGeom& g, const T* x, int64_t gi, int64_t r, T* dst) {
    const int64_t cg = g.cg(), hw = g.ho * g.wo, row_len = g.kw * cg;
    const bool whole_rows = g.groups == 1 && g.dw == 1;
    const int64_t n = r / hw, oh = (r % hw) / g.wo, ow = r % g.wo, w0 = ow * g.sw - g.pl;
    for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t hi = oh * g.sh - g.pt + i * g.dh;
        T* d = dst + i * row_len;
        if (hi < 0 || hi >= g.h) {
            for (int64_t e = 0; e < row_len; ++e) d[e] = T(0);
            continue;
        }
        const T* xrow = x + (n * g.h + hi) * g.w * g.c + gi * cg;
        if (whole_rows && w0 >= 0 && w0 + g.kw <= g.w) {
            const T* s = xrow + w0 * g.c;
            for (int64_t e = 0; e < row_len; ++e) d[e] = s[e];
            continue;
        }
        for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t wi = w0 + j * g.dw;
            T* dj = d + j * cg;
            if (wi < 0 || wi >= g.w) {
                for (int64_t ci = 0; ci < cg; ++ci) dj[ci] = T(0);
            } else {
                const T* s = xrow + wi * g.c;
                for (int64_t ci = 0; ci < cg; ++ci) dj[ci] = s[ci];
            }
        }
    }
}

}  // namespace ember
