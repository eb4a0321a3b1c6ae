// Argument checks shared by every kernel family (CPU now, CUDA later).
// A failed check throws std::invalid_argument (ValueError in Python) whose message names the op,
// the shapes involved and what was expected; nothing here aborts the interpreter.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

using Shape = std::vector<int64_t>;

// "(2, 5, 5, 3)", as NumPy prints a shape.
inline std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << '(';
    for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    if (s.size() == 1) os << ',';
    os << ')';
    return os.str();
}

inline void append_all(std::ostringstream&) {}
template <class T, class... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
    os << first;
    append_all(os, rest...);
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
    std::ostringstream os;
    append_all(os, args...);
    throw std::invalid_argument(os.str());
}

// Size arithmetic on untrusted values (shapes, window arguments) that throws instead of wrapping: signed overflow
// is undefined behaviour, and a wrapped size would pass later checks with a wrong value.
inline int64_t checked_add(const std::string& context, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) fail(context, ": ", a, " + ", b, " overflows 64-bit sizes");
    return r;
}
inline int64_t checked_mul(const std::string& context, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) fail(context, ": ", a, " * ", b, " overflows 64-bit sizes");
    return r;
}

}  // namespace ember

// EMBER_CHECK(cond, "conv2d: ", ...) throws std::invalid_argument built from the message parts.
#define EMBER_CHECK(cond, ...)                  \
    do {                                        \
        if (!(cond)) ::ember::fail(__VA_ARGS__); \
    } while (0)
