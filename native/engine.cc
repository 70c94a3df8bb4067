// Engine syscalls: flock(2) for the one lock shared by the CLI and the daemon. Non-blocking
// only (LOCK_NB): TypeScript polls, so the main thread never sleeps in the kernel. (zeroDax,
// the other syscall the engine needs, lives in addon.cc.)
#include <napi.h>

#include <errno.h>
#include <string.h>
#include <sys/file.h>

#include "syscall_error.h"

namespace {

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "flock(fd, op): fd and op must be numbers");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::TypeError::New(env, "fd must be >= 0");
  if ((op & LOCK_UN) == 0 && (op & LOCK_NB) == 0)
    throw Napi::TypeError::New(env, "flock: only non-blocking locks (LOCK_NB) are allowed on the main thread");
  int rc;
  do rc = flock(fd, op);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) throw ErrnoError(env, "flock", errno);
  return env.Undefined();
}

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
}
