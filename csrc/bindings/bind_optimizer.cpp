// Bindings of the fused optimizer updates.
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "cpu/optimizer.h"

namespace ember {
namespace {

// In place: param, m, v (and v_max) are updated from grad; all one shape, C-contiguous, one dtype.
void adam_update_binding(const py::handle& p_obj, const py::handle& g_obj, const py::handle& m_obj,
                         const py::handle& v_obj, const py::handle& v_max_obj, double beta_1, double beta_2,
                         double epsilon, double lr_t, double bias_2) {
    const char* op = "adam_update";
    const Array p = as_array(op, "param", p_obj, true), g = as_array(op, "grad", g_obj),
                m = as_array(op, "m", m_obj, true), v = as_array(op, "v", v_obj, true);
    const bool amsgrad = !v_max_obj.is_none();
    const Array v_max = amsgrad ? as_array(op, "v_max", v_max_obj, true) : v;
    const DType dt = common_dtype(op, {&p, &g, &m, &v, &v_max});
    for (const Array* a : {&p, &g, &m, &v, &v_max}) {
        require_contiguous(op, *a);
        EMBER_CHECK(a->shape == p.shape, op, ": ", a->name, " has shape ", shape_str(a->shape),
                    ", expected the parameter's ", shape_str(p.shape));
    }
    require_disjoint(op, p, g);
    require_disjoint(op, m, g);
    require_disjoint(op, v, g);
    require_disjoint(op, m, p);
    require_disjoint(op, v, p);
    require_disjoint(op, v, m);
    if (amsgrad) {
        for (const Array* a : {&p, &g, &m, &v}) require_disjoint(op, v_max, *a);
    }
    const AdamStep step{beta_1, beta_2, epsilon, lr_t, bias_2};
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        adam_update<T>(p.size(), p.ptr<T>(), g.cptr<T>(), m.ptr<T>(), v.ptr<T>(), amsgrad ? v_max.ptr<T>() : nullptr,
                       step);
    });
}

}  // namespace

void bind_optimizer(py::module_& m) {
    m.def("adam_update", &adam_update_binding, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
          py::arg("v_max"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("lr_t"),
          py::arg("bias_2"),
          "One Adam step in place: m, v (and v_max, or None) from grad, then param -= lr_t * m / "
          "(sqrt(v / bias_2) + epsilon); lr_t = lr / (1 - beta_1^t), bias_2 = 1 - beta_2^t.");
}

}  // namespace ember
