// Turning NumPy arrays into (pointer, shape, element strides) with every check a kernel relies on:
// ndarray type, dtype (float32 / float64, one for all operands), rank, shape, contiguity, writability,
// no overlap between outputs and inputs. Failures raise TypeError or ValueError naming the op.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <string>

#include "common/check.h"

namespace ember {
namespace py = pybind11;

enum class DType { f32, f64 };

struct Array {
    const char* name = "";
    char* data = nullptr;
    Shape shape, strides;  // strides in elements
    int64_t itemsize = 0;
    DType dtype = DType::f32;
    bool writable = false;

    template <typename T>
    const T* cptr() const { return reinterpret_cast<const T*>(data); }
    template <typename T>
    T* ptr() const { return reinterpret_cast<T*>(data); }
    int64_t size() const;
    bool c_contiguous() const;
};

// `obj` must be a float32 or float64 numpy.ndarray with element-aligned strides.
Array as_array(const char* op, const char* name, const py::handle& obj, bool output = false);

// All operands must share one dtype; returns it.
DType common_dtype(const char* op, std::initializer_list<const Array*> arrays);

void require_rank(const char* op, const Array& a, size_t rank);
void require_contiguous(const char* op, const Array& a);
// `out` may not share memory with `in` (exact aliasing allowed only when `allow_alias`).
void require_disjoint(const char* op, const Array& out, const Array& in, bool allow_alias = false);
// A convolution's bias: x's dtype, C-contiguous, one value per output channel of the HWIO kernel w, apart from y.
void require_conv_bias(const char* op, const Array& x, const Array& w, const Array& y, const Array& bias);

// Calls f(T{}) with T = float or double.
template <class F>
auto dispatch(DType dt, F&& f) {
    if (dt == DType::f32) return f(float{});
    return f(double{});
}

}  // namespace ember
