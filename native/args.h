// The one way a JS argument becomes a C integer: checked before any cast (a NaN cast to an
// integer is undefined behaviour; Int32Value would turn NaN into fd 0 and 2**32+5 into fd 5),
// thrown as TypeError (wrong kind) or RangeError (out of range) before any syscall.
#pragma once
#include <napi.h>

#include <stdint.h>

#include <cmath>
#include <string>

inline double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// An integer in [0, max]; anything else (NaN, fractions, negatives, too large) is a RangeError.
inline int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t max) {
  double d = ArgNumber(info, i, what);
  if (!(d >= 0 && d <= static_cast<double>(max)) || d != std::floor(d))
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be an integer from 0 to " + std::to_string(max));
  return static_cast<int64_t>(d);
}

inline int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int>(ArgInt(info, i, "fd", INT32_MAX));
}
