// Daemon syscalls Node has no API for: sd_notify (a datagram on an AF_UNIX socket, possibly in
// the abstract namespace), the kernel's uevent netlink socket, a wake-up pipe, and poll(2) with
// no timeout over several descriptors so the daemon sleeps until the kernel has something to
// say. Reading what arrives (uevents, the pipe, sysfs attributes) is done from TypeScript with
// plain read(2) on these descriptors.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

Napi::Error NotifyErrno(Napi::Env env, const char* syscall, int err) {
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

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
  if (fd < 0) throw NotifyErrno(env, "socket", errno);
  ssize_t n;
  do n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&sa), len);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) throw NotifyErrno(env, "sendto", err);
  return env.Undefined();
}

// ueventOpen() → fd: non-blocking NETLINK_KOBJECT_UEVENT socket bound to the kernel's group.
// The daemon treats a message only as a hint to rescan sysfs, never as data to act on.
Napi::Value UeventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) throw NotifyErrno(env, "socket", errno);
  int sz = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);  // best effort: a burst at boot
  struct sockaddr_nl sa {};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = 1;  // kernel uevents (udevd re-broadcasts on group 2)
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(fd);
    throw NotifyErrno(env, "bind", err);
  }
  return Napi::Number::New(env, fd);
}

// wakePipe() → [readFd, writeFd], both non-blocking: lets TypeScript interrupt pollFds.
Napi::Value WakePipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) throw NotifyErrno(env, "pipe2", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, p[0]));
  a.Set(1u, Napi::Number::New(env, p[1]));
  return a;
}

class PollWorker : public Napi::AsyncWorker {
 public:
  PollWorker(Napi::Env env, std::vector<struct pollfd> fds)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fds_(std::move(fds)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int n;
    do n = poll(fds_.data(), fds_.size(), -1);
    while (n < 0 && errno == EINTR);
    err_ = n < 0 ? errno : 0;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Reject(NotifyErrno(env, "poll", err_).Value());
      return;
    }
    Napi::Array out = Napi::Array::New(env, fds_.size());
    for (size_t i = 0; i < fds_.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds_[i].revents));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<struct pollfd> fds_;
  int err_ = 0;
};

// pollFds(fds: number[], events: number[]) → Promise<revents[]>. Waits with no timeout on a
// worker thread: the daemon costs no CPU until a descriptor becomes ready.
Napi::Value PollFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray())
    throw Napi::TypeError::New(env, "pollFds(fds: number[], events: number[])");
  Napi::Array fa = info[0].As<Napi::Array>(), ea = info[1].As<Napi::Array>();
  if (fa.Length() != ea.Length() || fa.Length() == 0 || fa.Length() > 4096)
    throw Napi::RangeError::New(env, "pollFds: fds and events must be non-empty and of equal length");
  std::vector<struct pollfd> fds(fa.Length());
  for (uint32_t i = 0; i < fa.Length(); i++) {
    Napi::Value f = fa.Get(i), ev = ea.Get(i);
    if (!f.IsNumber() || !ev.IsNumber()) throw Napi::TypeError::New(env, "pollFds: numbers expected");
    fds[i].fd = f.As<Napi::Number>().Int32Value();
    fds[i].events = static_cast<short>(ev.As<Napi::Number>().Int32Value());
    if (fds[i].fd < 0) throw Napi::RangeError::New(env, "pollFds: negative fd");
  }
  auto* w = new PollWorker(env, std::move(fds));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
  exports.Set("ueventOpen", Napi::Function::New(env, UeventOpen, "ueventOpen"));
  exports.Set("wakePipe", Napi::Function::New(env, WakePipe, "wakePipe"));
  exports.Set("pollFds", Napi::Function::New(env, PollFds, "pollFds"));
}
