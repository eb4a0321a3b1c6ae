// Bindings of the fused optimizer updates.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "arrays.h"
#include "cpu/optimizer.h"

namespace ember {
namespace {

// One parameter's arrays, checked: all one shape, C-contiguous, one dtype, the updated ones apart from the others.
struct AdamArrays {
    Array p, g, m, v, v_max;
    bool amsgrad = false;
    DType dt = DType::f32;
};

AdamArrays adam_arrays(const char* op, const py::handle& p_obj, const py::handle& g_obj, const py::handle& m_obj,
                       const py::handle& v_obj, const py::handle& v_max_obj) {
    AdamArrays r;
    r.p = as_array(op, "param", p_obj, true), r.g = as_array(op, "grad", g_obj);
    r.m = as_array(op, "m", m_obj, true), r.v = as_array(op, "v", v_obj, true);
    r.amsgrad = !v_max_obj.is_none();
    r.v_max = r.amsgrad ? as_array(op, "v_max", v_max_obj, true) : r.v;
    const Array &p = r.p, &g = r.g, &m = r.m, &v = r.v, &v_max = r.v_max;
    r.dt = common_dtype(op, {&p, &g, &m, &v, &v_max});
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
    if (r.amsgrad) {
        for (const Array* a : {&p, &g, &m, &v}) require_disjoint(op, v_max, *a);
    }
    return r;
}

void run_adam(const AdamArrays& a, const AdamStep& step) {
    dispatch(a.dt, [&](auto t) {
        using T = decltype(t);
        adam_update<T>(a.p.size(), a.p.ptr<T>(), a.g.cptr<T>(), a.m.ptr<T>(), a.v.ptr<T>(),
                       a.amsgrad ? a.v_max.ptr<T>() : nullptr, step);
    });
}

// In place: param, m, v (and v_max) are updated from grad.
void adam_update_binding(const py::handle& p_obj, const py::handle& g_obj, const py::handle& m_obj,
                         const py::handle& v_obj, const py::handle& v_max_obj, double beta_1, double beta_2,
                         double epsilon, double lr_t, double bias_2) {
    const AdamArrays a = adam_arrays("adam_update", p_obj, g_obj, m_obj, v_obj, v_max_obj);
    py::gil_scoped_release release;
    run_adam(a, AdamStep{beta_1, beta_2, epsilon, lr_t, bias_2});
}

// Every parameter of a model in one call, each as adam_update (lr_t and bias_2 per parameter: each counts its own
// steps): a Python loop of per-parameter calls cost ~8 us a parameter, as much as LeNet-5's updates themselves.
// All are checked before any is updated. Parameters that share memory are refused (one would see the other's update).
void adam_update_many_binding(const py::sequence& params, const py::sequence& grads, const py::sequence& ms,
                              const py::sequence& vs, const py::object& v_maxs, double beta_1, double beta_2,
                              double epsilon, const std::vector<double>& lr_t, const std::vector<double>& bias_2) {
    const char* op = "adam_update_many";
    const size_t n = py::len(params);
    const bool amsgrad = !v_maxs.is_none();
    const size_t n_vmax = amsgrad ? py::len(v_maxs) : n;
    EMBER_CHECK(py::len(grads) == n && py::len(ms) == n && py::len(vs) == n && n_vmax == n && lr_t.size() == n &&
                    bias_2.size() == n,
                op, ": expected params, grads, m, v", amsgrad ? ", v_max" : "", ", lr_t and bias_2 of one length, got ",
                n, ", ", py::len(grads), ", ", py::len(ms), ", ", py::len(vs), amsgrad ? ", " : "",
                amsgrad ? std::to_string(n_vmax) : std::string(), ", ", lr_t.size(), " and ", bias_2.size());
    std::vector<AdamArrays> arrays;
    arrays.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const py::object v_max = amsgrad ? py::object(v_maxs[py::int_(i)]) : py::object(py::none());
        arrays.push_back(adam_arrays(op, params[i], grads[i], ms[i], vs[i], v_max));
        for (size_t j = 0; j < i; ++j) require_disjoint(op, arrays[i].p, arrays[j].p);
    }
    py::gil_scoped_release release;
    for (size_t i = 0; i < n; ++i) run_adam(arrays[i], AdamStep{beta_1, beta_2, epsilon, lr_t[i], bias_2[i]});
}

}  // namespace

void bind_optimizer(py::module_& m) {
    m.def("adam_update", &adam_update_binding, py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
          py::arg("v_max"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("lr_t"),
          py::arg("bias_2"),
          "One Adam step in place: m, v (and v_max, or None) from grad, then param -= lr_t * m / "
          "(sqrt(v / bias_2) + epsilon); lr_t = lr / (1 - beta_1^t), bias_2 = 1 - beta_2^t.");
    m.def("adam_update_many", &adam_update_many_binding, py::arg("params"), py::arg("grads"), py::arg("m"),
          py::arg("v"), py::arg("v_max"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("lr_t"),
          py::arg("bias_2"),
          "adam_update for every parameter of the lists in one call (v_max a list or None; lr_t and bias_2 one "
          "value per parameter); every parameter is checked before any is updated.");
}

}  // namespace ember
