// The one way a failed syscall becomes a JS error: code (errno name), errno (positive) and
// syscall, so TypeScript can decide on the code and name the device in its own message.
#pragma once
#include <napi.h>

#include <string.h>

#include <string>

inline Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// Bumped whenever the exported functions change shape; daemon/native.ts refuses any other.
constexpr int kAbiVersion = 5;
