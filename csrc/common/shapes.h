// Geometry of the windowed ops (conv2d, pooling): validated once here, used by every backend.
#pragma once

#include <string>

#include "check.h"

namespace ember {

// NHWC input, HWIO kernel, explicit (top, bottom, left, right) padding.
struct Conv2dGeom {
    int64_t n, h, w, c;     // input
    int64_t kh, kw, o;      // kernel (kh, kw, c / groups, o)
    int64_t ho, wo;         // output spatial size
    int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
    int64_t cg() const { return c / groups; }
    int64_t og() const { return o / groups; }
    Shape x_shape() const { return {n, h, w, c}; }
    Shape w_shape() const { return {kh, kw, c / groups, o}; }
    Shape y_shape() const { return {n, ho, wo, o}; }
    // Whether a zero-bordered copy of one image (what the direct and rows paths buffer) stays near the image's own
    // size; padding far wider than the image (no real layer) is left to the GEMM path, which copies no padding.
    // conv2d_geometry has checked that the padded size is representable.
    bool modest_padding() const { return (h + pt + pb) * (w + pl + pr) <= 4 * h * w + 4096; }
};

// Validates x (N, H, W, C) against w (KH, KW, C // groups, O) and the window parameters.
Conv2dGeom conv2d_geometry(const char* op, const Shape& x, const Shape& w, int64_t sh, int64_t sw,
                           int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                           int64_t groups);

struct Pool2dGeom {
    int64_t n, h, w, c;
    int64_t ph, pw;         // pool size
    int64_t ho, wo;
    int64_t sh, sw, pt, pb, pl, pr;
    Shape x_shape() const { return {n, h, w, c}; }
    Shape y_shape() const { return {n, ho, wo, c}; }
};

// A window made only of padding (padding >= pool) is allowed: max and avg give 0 there, and no gradient.
Pool2dGeom pool2d_geometry(const char* op, const Shape& x, int64_t ph, int64_t pw, int64_t sh, int64_t sw,
                           int64_t pt, int64_t pb, int64_t pl, int64_t pr);

// Throws "<op>: <what> has shape (..), expected (..)" when the shapes differ.
void check_shape(const char* op, const char* what, const Shape& actual, const Shape& expected);

}  // namespace ember
