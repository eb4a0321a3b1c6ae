#include "arrays.h"

#include <algorithm>

namespace ember {

int64_t Array::size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

bool Array::c_contiguous() const {
    if (size() == 0) return true;
    int64_t expected = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        if (shape[i] != 1 && strides[i] != expected) return false;
        expected *= shape[i];
    }
    return true;
}

static const char* dtype_name(const py::array& a) {
    static thread_local std::string s;
    s = py::str(a.dtype()).cast<std::string>();
    return s.c_str();
}

Array as_array(const char* op, const char* name, const py::handle& obj, bool output) {
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(std::string(op) + ": expected `" + name + "` to be a numpy.ndarray, got " +
                             py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    py::array a = py::reinterpret_borrow<py::array>(obj);
    Array r;
    r.name = name;
    const py::dtype dt = a.dtype();
    const uint16_t probe = 1;
    const char native_order = *reinterpret_cast<const char*>(&probe) == 1 ? '<' : '>';
    const char order = dt.byteorder();
    const bool native = order == '=' || order == '|' || order == native_order;
    if (dt.kind() == 'f' && dt.itemsize() == 4 && native) r.dtype = DType::f32;
    else if (dt.kind() == 'f' && dt.itemsize() == 8 && native) r.dtype = DType::f64;
    else
        throw py::type_error(std::string(op) + ": expected `" + name + "` of dtype float32 or float64, got " +
                             dtype_name(a));
    r.itemsize = dt.itemsize();
    r.shape.resize(size_t(a.ndim()));
    r.strides.resize(size_t(a.ndim()));
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        r.shape[size_t(i)] = a.shape(i);
        const int64_t bytes = a.strides(i);
        EMBER_CHECK(bytes % r.itemsize == 0, op, ": `", name, "` has strides that are not a multiple of its itemsize");
        r.strides[size_t(i)] = bytes / r.itemsize;
    }
    EMBER_CHECK(reinterpret_cast<uintptr_t>(a.data()) % uintptr_t(r.itemsize) == 0, op, ": `", name,
                "` is not aligned to its itemsize");
    r.writable = a.writeable();
    if (output) EMBER_CHECK(r.writable, op, ": output `", name, "` is read-only");
    r.data = static_cast<char*>(const_cast<void*>(a.data()));
    return r;
}

DType common_dtype(const char* op, std::initializer_list<const Array*> arrays) {
    const DType first = (*arrays.begin())->dtype;
    bool same = true;
    for (const Array* a : arrays) same = same && a->dtype == first;
    if (!same) {
        std::string msg = std::string(op) + ": expected all arrays of one dtype (float32 or float64), got";
        const char* sep = " ";
        for (const Array* a : arrays) {
            msg += sep + std::string(a->name) + (a->dtype == DType::f32 ? " float32" : " float64");
            sep = ", ";
        }
        throw py::type_error(msg);
    }
    return first;
}

void require_rank(const char* op, const Array& a, size_t rank) {
    EMBER_CHECK(a.shape.size() == rank, op, ": expected `", a.name, "` to be ", rank, "-D, got shape ",
                shape_str(a.shape));
}

void require_contiguous(const char* op, const Array& a) {
    EMBER_CHECK(a.c_contiguous(), op, ": expected `", a.name, "` to be C-contiguous (shape ", shape_str(a.shape),
                ")");
}

// The byte range [lo, hi) an array can touch.
static void byte_range(const Array& a, uintptr_t& lo, uintptr_t& hi) {
    int64_t low = 0, high = 0;
    for (size_t i = 0; i < a.shape.size(); ++i) {
        const int64_t span = (a.shape[i] - 1) * a.strides[i] * a.itemsize;
        (span < 0 ? low : high) += span;
    }
    lo = reinterpret_cast<uintptr_t>(a.data) + low;
    hi = reinterpret_cast<uintptr_t>(a.data) + high + a.itemsize;
}

void require_conv_bias(const char* op, const Array& x, const Array& w, const Array& y, const Array& bias) {
    common_dtype(op, {&x, &bias});
    require_contiguous(op, bias);
    EMBER_CHECK(w.shape.size() == 4 && bias.shape == Shape{w.shape[3]}, op, ": kernel ", shape_str(w.shape), ", bias ",
                shape_str(bias.shape), ": expected bias (O,), one value per output channel");
    require_disjoint(op, y, bias);
}

void require_disjoint(const char* op, const Array& out, const Array& in, bool allow_alias) {
    if (out.size() == 0 || in.size() == 0) return;
    if (allow_alias && out.data == in.data && out.shape == in.shape && out.strides == in.strides) return;
    uintptr_t olo, ohi, ilo, ihi;
    byte_range(out, olo, ohi);
    byte_range(in, ilo, ihi);
    EMBER_CHECK(ohi <= ilo || ihi <= olo, op, ": output `", out.name, "` overlaps input `", in.name, "`");
}

}  // namespace ember
