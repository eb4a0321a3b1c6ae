// Bindings of the recurrent sequence kernels (cpu/rnn.h). Every array is checked here: one float dtype, C-
// contiguous, the shape implied by x (T, B, I) and h0 (B, H), outputs writable and overlapping nothing.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "arrays.h"
#include "common/shapes.h"
#include "cpu/rnn.h"

namespace ember {
namespace {

// Collects one call's operands, then checks them all at once.
struct RnnArgs {
    const char* op;
    int64_t gates;  // G: 1 SimpleRNN, 4 LSTM, 3 GRU
    RnnDims d{0, 0, 0, 0};
    std::vector<Array> in, out;
    const uint8_t* mask = nullptr;

    RnnArgs(const char* op_, int64_t g, const py::handle& x, const py::handle& h0) : op(op_), gates(g) {
        in.push_back(as_array(op, "x", x));
        in.push_back(as_array(op, "h0", h0));
        require_rank(op, in[0], 3);
        require_rank(op, in[1], 2);
        d = {in[0].shape[0], in[0].shape[1], in[0].shape[2], in[1].shape[1]};
        check_shape(op, "h0", in[1].shape, {d.B, d.H});
    }
    // Appends an input (or an output when `output`) of the given shape to in (out).
    void add(const char* name, const py::handle& obj, const Shape& shape, bool output = false) {
        std::vector<Array>& list = output ? out : in;
        list.push_back(as_array(op, name, obj, output));
        check_shape(op, name, list.back().shape, shape);
    }
    void add_weights(const py::handle& kernel, const py::handle& recurrent) {
        add("kernel", kernel, {d.I, gates * d.H});
        add("recurrent_kernel", recurrent, {d.H, gates * d.H});
    }
    void set_mask(const py::object& m) {
        if (m.is_none()) return;
        EMBER_CHECK(py::isinstance<py::array>(m), op, ": expected `mask` to be a numpy.ndarray of bool or None");
        py::array a = py::reinterpret_borrow<py::array>(m);
        EMBER_CHECK(a.dtype().kind() == 'b', op, ": expected `mask` of dtype bool, got ",
                    py::str(a.dtype()).cast<std::string>());
        Shape shape(a.shape(), a.shape() + a.ndim());
        check_shape(op, "mask", shape, {d.T, d.B});
        EMBER_CHECK(a.flags() & py::array::c_style, op, ": expected `mask` to be C-contiguous");
        mask = static_cast<const uint8_t*>(a.data());
    }
    // One dtype, everything C-contiguous, no output overlapping an input or another output.
    DType check() const {
        std::vector<const Array*> all;
        for (const Array& a : in) all.push_back(&a);
        for (const Array& a : out) all.push_back(&a);
        DType dt = all[0]->dtype;
        for (const Array* a : all) {
            if (a->dtype != dt) {
                std::string msg = std::string(op) + ": expected all arrays of one dtype (float32 or float64), got";
                const char* sep = " ";
                for (const Array* b : all) {
                    msg += sep + std::string(b->name) + (b->dtype == DType::f32 ? " float32" : " float64");
                    sep = ", ";
                }
                throw py::type_error(msg);
            }
            require_contiguous(op, *a);
        }
        for (size_t i = 0; i < out.size(); ++i) {
            for (const Array& a : in) require_disjoint(op, out[i], a);
            for (size_t j = 0; j < i; ++j) require_disjoint(op, out[i], out[j]);
        }
        return dt;
    }
};

template <typename T>
const T* opt_ptr(const Array* a) {
    return a ? a->cptr<T>() : nullptr;
}

bool parse_rnn_activation(const char* op, const std::string& name) {
    EMBER_CHECK(name == "tanh" || name == "relu", op, ": unknown activation '", name,
                "'. Expected one of ['tanh', 'relu'].");
    return name == "relu";
}

void simple_rnn_forward_binding(const py::handle& x, const py::handle& h0, const py::handle& kernel,
                                const py::handle& recurrent, const py::object& bias, const std::string& activation,
                                const py::object& mask, const py::handle& h) {
    RnnArgs a("simple_rnn_forward", 1, x, h0);
    const bool relu = parse_rnn_activation(a.op, activation);
    a.add_weights(kernel, recurrent);
    const bool has_bias = !bias.is_none();
    if (has_bias) a.add("bias", bias, {a.d.H});
    a.set_mask(mask);
    a.add("h", h, {a.d.T, a.d.B, a.d.H}, true);
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        simple_rnn_forward<T>(a.d, a.in[0].cptr<T>(), a.in[1].cptr<T>(), a.in[2].cptr<T>(), a.in[3].cptr<T>(),
                              opt_ptr<T>(has_bias ? &a.in[4] : nullptr), relu, a.mask, a.out[0].ptr<T>());
    });
}

void simple_rnn_backward_binding(const py::handle& grad_h, const py::handle& x, const py::handle& h0,
                                 const py::handle& kernel, const py::handle& recurrent, const std::string& activation,
                                 const py::object& mask, const py::handle& h, const py::handle& grad_x,
                                 const py::handle& grad_h0, const py::handle& grad_kernel,
                                 const py::handle& grad_recurrent, const py::handle& grad_bias) {
    RnnArgs a("simple_rnn_backward", 1, x, h0);
    const bool relu = parse_rnn_activation(a.op, activation);
    const RnnDims& d = a.d;
    a.add_weights(kernel, recurrent);
    a.add("grad_h", grad_h, {d.T, d.B, d.H});
    a.add("h", h, {d.T, d.B, d.H});
    a.set_mask(mask);
    a.add("grad_x", grad_x, {d.T, d.B, d.I}, true);
    a.add("grad_h0", grad_h0, {d.B, d.H}, true);
    a.add("grad_kernel", grad_kernel, {d.I, d.H}, true);
    a.add("grad_recurrent_kernel", grad_recurrent, {d.H, d.H}, true);
    a.add("grad_bias", grad_bias, {d.H}, true);
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        const auto& i = a.in;
        const auto& o = a.out;
        simple_rnn_backward<T>(d, i[4].cptr<T>(), i[0].cptr<T>(), i[1].cptr<T>(), i[2].cptr<T>(), i[3].cptr<T>(),
                               relu, a.mask, i[5].cptr<T>(), o[0].ptr<T>(), o[1].ptr<T>(), o[2].ptr<T>(),
                               o[3].ptr<T>(), o[4].ptr<T>());
    });
}

void lstm_forward_binding(const py::handle& x, const py::handle& h0, const py::handle& c0, const py::handle& kernel,
                          const py::handle& recurrent, const py::object& bias, const py::object& mask,
                          const py::handle& h, const py::handle& c, const py::handle& gates) {
    RnnArgs a("lstm_forward", 4, x, h0);
    const RnnDims& d = a.d;
    a.add("c0", c0, {d.B, d.H});
    a.add_weights(kernel, recurrent);
    const bool has_bias = !bias.is_none();
    if (has_bias) a.add("bias", bias, {4 * d.H});
    a.set_mask(mask);
    const bool training = !gates.is_none();
    a.add("h", h, {d.T, d.B, d.H}, true);
    if (training) {
        a.add("c", c, {d.T, d.B, d.H}, true);
        a.add("gates", gates, {d.T, d.B, 4 * d.H}, true);
    } else {
        a.add("c", c, {d.B, d.H}, true);  // inference: the final cell state only
    }
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        const auto& i = a.in;
        lstm_forward<T>(d, i[0].cptr<T>(), i[1].cptr<T>(), i[2].cptr<T>(), i[3].cptr<T>(), i[4].cptr<T>(),
                        opt_ptr<T>(has_bias ? &i[5] : nullptr), a.mask, a.out[0].ptr<T>(), a.out[1].ptr<T>(),
                        training ? a.out[2].ptr<T>() : nullptr);
    });
}

void lstm_backward_binding(const py::handle& grad_h, const py::handle& grad_c, const py::handle& x,
                           const py::handle& h0, const py::handle& c0, const py::handle& kernel,
                           const py::handle& recurrent, const py::object& mask, const py::handle& h,
                           const py::handle& c, const py::handle& gates, const py::handle& grad_x,
                           const py::handle& grad_h0, const py::handle& grad_c0, const py::handle& grad_kernel,
                           const py::handle& grad_recurrent, const py::handle& grad_bias) {
    RnnArgs a("lstm_backward", 4, x, h0);
    const RnnDims& d = a.d;
    a.add("c0", c0, {d.B, d.H});                  // in[2]
    a.add_weights(kernel, recurrent);             // in[3], in[4]
    a.add("grad_h", grad_h, {d.T, d.B, d.H});     // in[5]
    a.add("grad_c", grad_c, {d.T, d.B, d.H});     // in[6]
    a.add("h", h, {d.T, d.B, d.H});               // in[7]
    a.add("c", c, {d.T, d.B, d.H});               // in[8]
    a.add("gates", gates, {d.T, d.B, 4 * d.H});   // in[9]
    a.set_mask(mask);
    a.add("grad_x", grad_x, {d.T, d.B, d.I}, true);
    a.add("grad_h0", grad_h0, {d.B, d.H}, true);
    a.add("grad_c0", grad_c0, {d.B, d.H}, true);
    a.add("grad_kernel", grad_kernel, {d.I, 4 * d.H}, true);
    a.add("grad_recurrent_kernel", grad_recurrent, {d.H, 4 * d.H}, true);
    a.add("grad_bias", grad_bias, {4 * d.H}, true);
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        const auto& i = a.in;
        const auto& o = a.out;
        lstm_backward<T>(d, i[5].cptr<T>(), i[6].cptr<T>(), i[0].cptr<T>(), i[1].cptr<T>(), i[2].cptr<T>(),
                         i[3].cptr<T>(), i[4].cptr<T>(), a.mask, i[7].cptr<T>(), i[8].cptr<T>(), i[9].cptr<T>(),
                         o[0].ptr<T>(), o[1].ptr<T>(), o[2].ptr<T>(), o[3].ptr<T>(), o[4].ptr<T>(), o[5].ptr<T>());
    });
}

Shape gru_bias_shape(const RnnDims& d, bool reset_after) {
    return reset_after ? Shape{2, 3 * d.H} : Shape{3 * d.H};
}

void gru_forward_binding(const py::handle& x, const py::handle& h0, const py::handle& kernel,
                         const py::handle& recurrent, const py::object& bias, bool reset_after,
                         const py::object& mask, const py::handle& h, const py::handle& gates) {
    RnnArgs a("gru_forward", 3, x, h0);
    const RnnDims& d = a.d;
    a.add_weights(kernel, recurrent);
    const bool has_bias = !bias.is_none();
    if (has_bias) a.add("bias", bias, gru_bias_shape(d, reset_after));
    a.set_mask(mask);
    a.add("h", h, {d.T, d.B, d.H}, true);
    a.add("gates", gates, {d.T, d.B, 4 * d.H}, true);
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        const auto& i = a.in;
        gru_forward<T>(d, i[0].cptr<T>(), i[1].cptr<T>(), i[2].cptr<T>(), i[3].cptr<T>(),
                       opt_ptr<T>(has_bias ? &i[4] : nullptr), reset_after, a.mask, a.out[0].ptr<T>(),
                       a.out[1].ptr<T>());
    });
}

void gru_backward_binding(const py::handle& grad_h, const py::handle& x, const py::handle& h0,
                          const py::handle& kernel, const py::handle& recurrent, bool reset_after,
                          const py::object& mask, const py::handle& h, const py::handle& gates,
                          const py::handle& grad_x, const py::handle& grad_h0, const py::handle& grad_kernel,
                          const py::handle& grad_recurrent, const py::handle& grad_bias) {
    RnnArgs a("gru_backward", 3, x, h0);
    const RnnDims& d = a.d;
    a.add_weights(kernel, recurrent);            // in[2], in[3]
    a.add("grad_h", grad_h, {d.T, d.B, d.H});    // in[4]
    a.add("h", h, {d.T, d.B, d.H});              // in[5]
    a.add("gates", gates, {d.T, d.B, 4 * d.H});  // in[6]
    a.set_mask(mask);
    a.add("grad_x", grad_x, {d.T, d.B, d.I}, true);
    a.add("grad_h0", grad_h0, {d.B, d.H}, true);
    a.add("grad_kernel", grad_kernel, {d.I, 3 * d.H}, true);
    a.add("grad_recurrent_kernel", grad_recurrent, {d.H, 3 * d.H}, true);
    a.add("grad_bias", grad_bias, gru_bias_shape(d, reset_after), true);
    const DType dt = a.check();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        const auto& i = a.in;
        const auto& o = a.out;
        gru_backward<T>(d, i[4].cptr<T>(), i[0].cptr<T>(), i[1].cptr<T>(), i[2].cptr<T>(), i[3].cptr<T>(),
                        reset_after, a.mask, i[5].cptr<T>(), i[6].cptr<T>(), o[0].ptr<T>(), o[1].ptr<T>(),
                        o[2].ptr<T>(), o[3].ptr<T>(), o[4].ptr<T>());
    });
}

}  // namespace

void bind_rnn(py::module_& m) {
    using py::arg;
    m.def("simple_rnn_forward", &simple_rnn_forward_binding, arg("x"), arg("h0"), arg("kernel"),
          arg("recurrent_kernel"), arg("bias"), arg("activation"), arg("mask"), arg("h"),
          "h (T, B, H) = SimpleRNN over x (T, B, I); activation 'tanh' or 'relu'; bias (H,) or None; "
          "mask (T, B) bool or None.");
    m.def("simple_rnn_backward", &simple_rnn_backward_binding, arg("grad_h"), arg("x"), arg("h0"), arg("kernel"),
          arg("recurrent_kernel"), arg("activation"), arg("mask"), arg("h"), arg("grad_x"), arg("grad_h0"),
          arg("grad_kernel"), arg("grad_recurrent_kernel"), arg("grad_bias"),
          "Backpropagation through time of simple_rnn_forward; h is its output.");
    m.def("lstm_forward", &lstm_forward_binding, arg("x"), arg("h0"), arg("c0"), arg("kernel"),
          arg("recurrent_kernel"), arg("bias"), arg("mask"), arg("h"), arg("c"), arg("gates"),
          "h, c (T, B, H) and gates (T, B, 4H) [i, f, g, o] after their nonlinearities; bias (4H,) or None. "
          "gates None: inference, c (B, H) receives the final cell state only.");
    m.def("lstm_backward", &lstm_backward_binding, arg("grad_h"), arg("grad_c"), arg("x"), arg("h0"), arg("c0"),
          arg("kernel"), arg("recurrent_kernel"), arg("mask"), arg("h"), arg("c"), arg("gates"), arg("grad_x"),
          arg("grad_h0"), arg("grad_c0"), arg("grad_kernel"), arg("grad_recurrent_kernel"), arg("grad_bias"),
          "Backpropagation through time of lstm_forward; h, c, gates are its outputs.");
    m.def("gru_forward", &gru_forward_binding, arg("x"), arg("h0"), arg("kernel"), arg("recurrent_kernel"),
          arg("bias"), arg("reset_after"), arg("mask"), arg("h"), arg("gates"),
          "h (T, B, H) and gates (T, B, 4H) [z, r, hh, q]; bias (2, 3H) if reset_after else (3H,), or None.");
    m.def("gru_backward", &gru_backward_binding, arg("grad_h"), arg("x"), arg("h0"), arg("kernel"),
          arg("recurrent_kernel"), arg("reset_after"), arg("mask"), arg("h"), arg("gates"), arg("grad_x"),
          arg("grad_h0"), arg("grad_kernel"), arg("grad_recurrent_kernel"), arg("grad_bias"),
          "Backpropagation through time of gru_forward; grad_bias has the shape bias has for reset_after.");
}

}  // namespace ember
