// Daemon syscalls Node has no API for: sd_notify (a datagram on an AF_UNIX socket, possibly in
// the abstract namespace), the kernel's uevent netlink socket, a control-socket peer's credentials, and a watcher that wakes the
// event loop when an fd becomes readable or a sysfs attribute is notified. Reading what arrives
// (uevents, sysfs attributes) is done from TypeScript with plain read(2) on these descriptors.
// And malloc_trim(3): glibc keeps what a burst freed in its arenas; trimming hands the free pages
// back to the kernel.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <uv.h>

#include "args.h"
#include "syscall_error.h"

namespace {

// sdNotify(socketPath, message): one datagram to $NOTIFY_SOCKET. "@name" is an abstract
// address (leading NUL, no terminator counted), anything else a filesystem path.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
    throw Napi::TypeError::New(env, "sdNotify(socketPath: string, message: string)");
  std::string where = info[0].As<Napi::String>().Utf8Value();
  std::string msg = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (where.empty() || where.size() >= sizeof sa.sun_path || (where[0] != '/' && where[0] != '@'))
    throw Napi::RangeError::New(env, "NOTIFY_SOCKET must be an absolute path or @abstract name");
  socklen_t len;
  if (where[0] == '@') {
    sa.sun_path[0] = '\0';
    memcpy(sa.sun_path + 1, where.data() + 1, where.size() - 1);
    len = offsetof(struct sockaddr_un, sun_path) + where.size();
  } else {
    memcpy(sa.sun_path, where.data(), where.size());
    len = offsetof(struct sockaddr_un, sun_path) + where.size() + 1;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, "socket", errno);
  ssize_t n;
  do n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&sa), len);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) throw ErrnoError(env, "sendto", err);
  return env.Undefined();
}

// ueventOpen() → fd: non-blocking NETLINK_KOBJECT_UEVENT socket bound to the kernel's group.
// The daemon treats a message only as a hint to rescan sysfs, never as data to act on.
Napi::Value UeventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) throw ErrnoError(env, "socket", errno);
  int sz = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);  // best effort: a burst at boot
  struct sockaddr_nl sa {};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = 1;  // kernel uevents (udevd re-broadcasts on group 2)
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, "bind", err);
  }
  return Napi::Number::New(env, fd);
}

// peerCred(fd) → {pid, uid, gid}: who is at the other end of a connected AF_UNIX socket, as the
// kernel recorded it at connect time (SO_PEERCRED): the control socket serves root only.
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) throw ErrnoError(env, "getsockopt", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cred.pid));
  o.Set("uid", Napi::Number::New(env, cred.uid));
  o.Set("gid", Napi::Number::New(env, cred.gid));
  return o;
}

// FdWatcher: an fd watched on the event loop with uv_poll (the uevent socket for readability,
// a sysfs attribute for POLLPRI). No thread parks in poll(2) and nothing needs waking: the
// loop itself sleeps in epoll until the kernel has something to say, and close() stops it.
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("close", &FdWatcher::Close)});
  }

  // new FdWatcher(fd, events, callback(err, revents)): events is a mask of UV_READABLE (1)
  // and UV_PRIORITIZED (8).
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[2].IsFunction())
      throw Napi::TypeError::New(env, "new FdWatcher(fd: number, events: number, callback: function)");
    int fd = ArgFd(info, 0);
    int events = static_cast<int>(ArgInt(info, 1, "events", UV_READABLE | UV_PRIORITIZED));
    if (events == 0)
      throw Napi::RangeError::New(env, "FdWatcher: events must be UV_READABLE and/or UV_PRIORITIZED");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) throw Napi::Error::New(env, "FdWatcher: no event loop");
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    handle_ = new uv_poll_t;
    handle_->data = this;
    int rc = uv_poll_init(loop, handle_, fd);
    if (rc != 0) {
      // Not initialised: nothing for the loop to close (regular files cannot be epoll'd).
      delete handle_;
      handle_ = nullptr;
      throw ErrnoError(env, "uv_poll_init", -rc);
    }
    rc = uv_poll_start(handle_, events, OnPoll);
    if (rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle_), OnClosed);
      handle_ = nullptr;
      throw ErrnoError(env, "uv_poll_start", -rc);
    }
    // Keep the JS object (and its callback) alive while the loop may call it.
    Ref();
  }

  ~FdWatcher() override { Stop(); }

 private:
  static void OnPoll(uv_poll_t* h, int status, int revents) {
    auto* self = static_cast<FdWatcher*>(h->data);
    if (!self || self->callback_.IsEmpty()) return;
    Napi::Env env = self->callback_.Env();
    Napi::HandleScope scope(env);
    // A JS exception here must not unwind into libuv (std::terminate: the process aborts and
    // nothing in JS runs): it goes where any uncaught JS exception goes, process 'uncaughtException'.
    try {
      if (status < 0) {
        self->callback_.Call({ErrnoError(env, "poll", -status).Value(), Napi::Number::New(env, 0)});
      } else {
        self->callback_.Call({env.Null(), Napi::Number::New(env, revents)});
      }
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  static void OnClosed(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  void Stop() {
    if (!handle_) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), OnClosed);
    handle_ = nullptr;
    callback_.Reset();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool was = handle_ != nullptr;
    Stop();
    if (was) Unref();
    return info.Env().Undefined();
  }

  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
};

// mallocTrim(): malloc_trim(0) over every arena; true when memory went back to the kernel.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) == 1);
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
  exports.Set("ueventOpen", Napi::Function::New(env, UeventOpen, "ueventOpen"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("FdWatcher", FdWatcher::Define(env));
}
