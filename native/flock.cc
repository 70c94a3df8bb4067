// flock(2) for the one lock shared by the CLI and the daemon. Non-blocking
// only (LOCK_NB): TypeScript polls, so the main thread never sleeps in the kernel. (zeroDax,
// the other syscall the engine needs, lives in addon.cc.)
#include <napi.h>

#include <errno.h>
#include <string.h>
#include <sys/file.h>

#include "args.h"
#include "syscall_error.h"

namespace {

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  int op = static_cast<int>(ArgInt(info, 1, "op", LOCK_SH | LOCK_EX | LOCK_NB | LOCK_UN));
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
