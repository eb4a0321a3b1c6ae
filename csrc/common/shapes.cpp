#include "shapes.h"

namespace ember {

void check_shape(const char* op, const char* what, const Shape& actual, const Shape& expected) {
    EMBER_CHECK(actual == expected, op, ": ", what, " has shape ", shape_str(actual), ", expected ",
                shape_str(expected));
}

Conv2dGeom conv2d_geometry(const char* op, const Shape& x, const Shape& w, int64_t sh, int64_t sw,
                           int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                           int64_t groups) {
    EMBER_CHECK(x.size() == 4, op, ": expected a 4-D NHWC input, got shape ", shape_str(x));
    EMBER_CHECK(w.size() == 4, op, ": expected a 4-D HWIO kernel, got shape ", shape_str(w));
    const std::string both = std::string(op) + ": input " + shape_str(x) + " and kernel " + shape_str(w);
    EMBER_CHECK(groups >= 1, both, ": expected groups >= 1, got ", groups);
    EMBER_CHECK(sh >= 1 && sw >= 1, both, ": expected strides >= 1, got (", sh, ", ", sw, ")");
    EMBER_CHECK(dh >= 1 && dw >= 1, both, ": expected dilation >= 1, got (", dh, ", ", dw, ")");
    EMBER_CHECK(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0, both,
                ": expected non-negative padding, got ((", pt, ", ", pb, "), (", pl, ", ", pr, "))");
    for (int64_t d : x) EMBER_CHECK(d >= 0, both, ": negative dimension");
    for (int64_t d : w) EMBER_CHECK(d >= 1, both, ": expected every kernel dimension >= 1");
    EMBER_CHECK(x[3] % groups == 0, both, ": expected input channels ", x[3], " divisible by groups ", groups);
    EMBER_CHECK(w[2] == x[3] / groups, both, ": expected kernel input channels ", x[3], " // groups ", groups,
                " = ", x[3] / groups, ", got ", w[2]);
    EMBER_CHECK(w[3] % groups == 0, both, ": expected output channels ", w[3], " divisible by groups ", groups);
    Conv2dGeom g{};
    g.n = x[0]; g.h = x[1]; g.w = x[2]; g.c = x[3];
    g.kh = w[0]; g.kw = w[1]; g.o = w[3];
    g.sh = sh; g.sw = sw; g.pt = pt; g.pb = pb; g.pl = pl; g.pr = pr; g.dh = dh; g.dw = dw;
    g.groups = groups;
    // Every later index (oh * sh - pt + i * dh, ...) lies within these extents, so checking them here keeps all
    // of the kernels' 64-bit arithmetic from overflowing, whatever the arguments.
    const int64_t eh = checked_add(both, checked_mul(both, dh, g.kh - 1), 1);  // dilated kernel extent
    const int64_t ew = checked_add(both, checked_mul(both, dw, g.kw - 1), 1);
    const int64_t hp = checked_add(both, checked_add(both, g.h, pt), pb);  // padded input size
    const int64_t wp = checked_add(both, checked_add(both, g.w, pl), pr);
    EMBER_CHECK(hp >= eh && wp >= ew, both, ": expected padded input size (", hp, ", ", wp,
                ") >= dilated kernel size (", eh, ", ", ew, ")");
    g.ho = (hp - eh) / sh + 1;
    g.wo = (wp - ew) / sw + 1;
    // A dilation with one kernel tap changes nothing: made 1 so that the kernels' strides (dh * Wp * C, ...) stay
    // within the padded image, checked next. (A stride with one output is kept: sh == 1 promises ho = hp - eh + 1.)
    if (g.kh == 1) g.dh = 1;
    if (g.kw == 1) g.dw = 1;
    checked_mul(both, checked_mul(both, hp, wp), g.c);  // one padded image (the rows path's buffer)
    return g;
}

Pool2dGeom pool2d_geometry(const char* op, const Shape& x, int64_t ph, int64_t pw, int64_t sh, int64_t sw,
                           int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
    EMBER_CHECK(x.size() == 4, op, ": expected a 4-D NHWC input, got shape ", shape_str(x));
    const std::string pre = std::string(op) + ": input " + shape_str(x);
    EMBER_CHECK(ph >= 1 && pw >= 1, pre, ": expected pool size >= 1, got (", ph, ", ", pw, ")");
    EMBER_CHECK(sh >= 1 && sw >= 1, pre, ": expected strides >= 1, got (", sh, ", ", sw, ")");
    EMBER_CHECK(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0, pre, ": expected non-negative padding, got ((", pt,
                ", ", pb, "), (", pl, ", ", pr, "))");
    for (int64_t d : x) EMBER_CHECK(d >= 0, pre, ": negative dimension");
    Pool2dGeom g{};
    g.n = x[0]; g.h = x[1]; g.w = x[2]; g.c = x[3];
    g.ph = ph; g.pw = pw; g.sh = sh; g.sw = sw; g.pt = pt; g.pb = pb; g.pl = pl; g.pr = pr;
    const int64_t hp = checked_add(pre, checked_add(pre, g.h, pt), pb);  // padded input size (see conv2d_geometry)
    const int64_t wp = checked_add(pre, checked_add(pre, g.w, pl), pr);
    EMBER_CHECK(hp >= ph && wp >= pw, pre, ": expected padded input size (", hp, ", ", wp, ") >= pool size (", ph,
                ", ", pw, ")");
    g.ho = (hp - ph) / sh + 1;
    g.wo = (wp - pw) / sw + 1;
    return g;
}

}  // namespace ember
