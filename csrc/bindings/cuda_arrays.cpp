#include "cuda_arrays.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>

#include "common/shapes.h"
#include "cuda/runtime.h"

namespace ember {
namespace {

// The fields of one __cuda_array_interface__ that the kernels use.
struct Interface {
    Shape shape;
    std::vector<int64_t> byte_strides;  // empty: C-contiguous
    std::string typestr;
    uintptr_t data = 0;
    bool readonly = false;
    bool has_stream = false;
    intptr_t stream = 0;
};

std::string type_name(const py::handle& obj) {
    const py::handle type = py::type::of(obj);
    const std::string module = py::str(type.attr("__module__")).cast<std::string>();
    const std::string name = py::str(type.attr("__qualname__")).cast<std::string>();
    return module == "builtins" ? name : module + "." + name;
}

Interface parse_interface(const char* op, const char* name, const py::handle& obj) {
    if (!py::hasattr(obj, "__cuda_array_interface__"))
        throw py::type_error(std::string(op) + ": expected `" + name +
                             "` to be a CUDA array (an object with __cuda_array_interface__, such as a cupy.ndarray), "
                             "got " + type_name(obj));
    const py::dict cai = obj.attr("__cuda_array_interface__");
    const auto bad = [&](const std::string& what) {
        throw py::type_error(std::string(op) + ": `" + name + "` has an invalid __cuda_array_interface__: " + what);
    };
    Interface r;
    if (!cai.contains("shape") || !cai.contains("typestr") || !cai.contains("data")) bad("missing shape/typestr/data");
    for (const py::handle d : cai["shape"]) r.shape.push_back(d.cast<int64_t>());
    r.typestr = cai["typestr"].cast<std::string>();
    const py::tuple data = cai["data"];
    if (data.size() != 2) bad("`data` is not a (pointer, read_only) pair");
    r.data = data[0].cast<uintptr_t>();
    r.readonly = data[1].cast<bool>();
    if (cai.contains("strides") && !cai["strides"].is_none()) {
        for (const py::handle s : cai["strides"]) r.byte_strides.push_back(s.cast<int64_t>());
        if (r.byte_strides.size() != r.shape.size()) bad("`strides` and `shape` differ in length");
    }
    if (cai.contains("mask") && !cai["mask"].is_none())
        throw py::type_error(std::string(op) + ": `" + name + "` is a masked CUDA array, which is not supported");
    const int version = cai.contains("version") ? cai["version"].cast<int>() : 0;
    if (version >= 3 && cai.contains("stream") && !cai["stream"].is_none()) {
        r.has_stream = true;
        r.stream = cai["stream"].cast<intptr_t>();
    }
    return r;
}

// NumPy's name for a typestr ("<f2" -> "float16"), for messages.
std::string dtype_name(const std::string& typestr) {
    try {
        return py::str(py::module_::import("numpy").attr("dtype")(typestr)).cast<std::string>();
    } catch (const py::error_already_set&) {
        return typestr;
    }
}

bool little_endian() {
    const uint16_t probe = 1;
    return *reinterpret_cast<const uint8_t*>(&probe) == 1;
}

// '<', '|' and '=' are native on a little-endian machine ('>' on a big-endian one).
bool native_order(char c) { return c == '|' || c == '=' || c == (little_endian() ? '<' : '>'); }

// Element strides from the interface's byte strides (C-contiguous ones when it gives none).
void set_strides(const char* op, const char* name, const Interface& cai, Array& r) {
    r.shape = cai.shape;
    r.strides.assign(cai.shape.size(), 0);
    if (cai.byte_strides.empty()) {
        int64_t expected = 1;
        for (size_t i = cai.shape.size(); i-- > 0;) {
            r.strides[i] = expected;
            expected *= std::max<int64_t>(cai.shape[i], 1);
        }
        return;
    }
    for (size_t i = 0; i < cai.shape.size(); ++i) {
        EMBER_CHECK(cai.byte_strides[i] % r.itemsize == 0, op, ": `", name,
                    "` has strides that are not a multiple of its itemsize");
        r.strides[i] = cai.byte_strides[i] / r.itemsize;
    }
}

}  // namespace

Array DeviceEnv::array(const char* name, const py::handle& obj, bool output) {
    const Interface cai = parse_interface(op_, name, obj);
    Array r;
    r.name = name;
    const std::string& t = cai.typestr;
    const bool native = t.size() == 3 && native_order(t[0]);
    if (native && t[1] == 'f' && t[2] == '4')
        r.dtype = DType::f32;
    else if (native && t[1] == 'f' && t[2] == '8')
        r.dtype = DType::f64;
    else
        throw py::type_error(std::string(op_) + ": expected `" + name + "` of dtype float32 or float64, got " +
                             dtype_name(t));
    r.itemsize = r.dtype == DType::f32 ? 4 : 8;
    set_strides(op_, name, cai, r);
    EMBER_CHECK(cai.data % uintptr_t(r.itemsize) == 0, op_, ": `", name, "` is not aligned to its itemsize");
    r.writable = !cai.readonly;
    if (output) EMBER_CHECK(r.writable, op_, ": output `", name, "` is read-only");
    r.data = reinterpret_cast<char*>(cai.data);
    if (r.size() > 0) pointers_.emplace_back(r.data, name);
    if (cai.has_stream) producers_.push_back(cai.stream);
    return r;
}

const uint8_t* DeviceEnv::mask(const py::object& obj, const Shape& expected) {
    if (obj.is_none()) return nullptr;
    const Interface cai = parse_interface(op_, "mask", obj);
    EMBER_CHECK(cai.typestr == "|b1", op_, ": expected `mask` of dtype bool, got ", dtype_name(cai.typestr));
    check_shape(op_, "mask", cai.shape, expected);
    Array a;
    a.name = "mask";
    a.itemsize = 1;
    set_strides(op_, "mask", cai, a);
    EMBER_CHECK(a.c_contiguous(), op_, ": expected `mask` to be C-contiguous");
    if (a.size() > 0) pointers_.emplace_back(reinterpret_cast<const void*>(cai.data), "mask");
    if (cai.has_stream) producers_.push_back(cai.stream);
    return reinterpret_cast<const uint8_t*>(cai.data);
}

cuda::Ctx DeviceEnv::ready() {
    cuda::require_device(op_);
    int device = 0;
    EMBER_CUDA_CHECK(op_, cudaGetDevice(&device));
    for (const auto& [ptr, name] : pointers_) {
        cudaPointerAttributes attr{};
        if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
            cudaGetLastError();
            attr.type = cudaMemoryTypeUnregistered;
        }
        char where[32];
        std::snprintf(where, sizeof where, "%p", ptr);
        if (attr.type == cudaMemoryTypeDevice) {
            EMBER_CHECK(attr.device == device, op_, ": `", name, "` is on CUDA device ", attr.device,
                        ", but the current device is ", device);
        } else if (attr.type != cudaMemoryTypeManaged) {
            throw py::type_error(std::string(op_) + ": `" + name + "` (at " + where +
                                 ") is not in CUDA device memory; expected an array on the current CUDA device");
        }
    }
    // Producer streams (v3): 1 is the legacy default stream, which the caller's stream 0 also means; 2 is the
    // per-thread default stream. Waiting through an event orders this call's kernels after the producer's work.
    const cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_);
    const intptr_t ours = stream_ == 0 ? 1 : intptr_t(stream_);
    std::sort(producers_.begin(), producers_.end());
    producers_.erase(std::unique(producers_.begin(), producers_.end()), producers_.end());
    for (const intptr_t p : producers_) {
        if (p == ours || p == 0) continue;
        const cudaStream_t producer = p == 1   ? cudaStreamLegacy
                                      : p == 2 ? cudaStreamPerThread
                                               : reinterpret_cast<cudaStream_t>(p);
        cudaEvent_t event;
        EMBER_CUDA_CHECK(op_, cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
        const cudaError_t recorded = cudaEventRecord(event, producer);
        const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(stream, event, 0) : recorded;
        cudaEventDestroy(event);  // released once the wait is satisfied
        EMBER_CUDA_CHECK(op_, waited);
    }
    return {op_, stream};
}

const uint8_t* HostEnv::mask(const py::object& m, const Shape& expected) {
    if (m.is_none()) return nullptr;
    EMBER_CHECK(py::isinstance<py::array>(m), op_, ": expected `mask` to be a numpy.ndarray of bool or None");
    py::array a = py::reinterpret_borrow<py::array>(m);
    EMBER_CHECK(a.dtype().kind() == 'b', op_, ": expected `mask` of dtype bool, got ",
                py::str(a.dtype()).cast<std::string>());
    check_shape(op_, "mask", Shape(a.shape(), a.shape() + a.ndim()), expected);
    EMBER_CHECK(a.flags() & py::array::c_style, op_, ": expected `mask` to be C-contiguous");
    return static_cast<const uint8_t*>(a.data());
}

}  // namespace ember
