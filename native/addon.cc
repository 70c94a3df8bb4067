// daxram_native: syscalls only. Every decision lives in TypeScript.
//
// Each function takes a file descriptor that TypeScript opened (the addon never opens
// anything), issues one syscall on a worker thread, and resolves with the kernel's answer as a
// plain object (64-bit values as BigInt). A failed syscall rejects with an Error carrying
// code ('EBUSY'), errno (positive) and syscall ('ioctl', 'pread', 'poll', 'mmap').
#include <napi.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/ndctl.h>

#include "args.h"
#include "syscall_error.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

// daemon syscalls (native/notify.cc)
void InitNotify(Napi::Env env, Napi::Object exports);
// flock(2) (native/flock.cc)
void InitEngine(Napi::Env env, Napi::Object exports);

namespace {

using Bytes = std::vector<uint8_t>;

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() > i && info[i].IsBigInt()) {
    bool lossless = false;
    uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(info.Env(), std::string(what) + " does not fit in 64 bits");
    return v;
  }
  if (info.Length() > i && info[i].IsNumber()) return static_cast<uint64_t>(ArgInt(info, i, what, 9007199254740991LL));
  throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a bigint or a number");
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  uint64_t v = ArgU64(info, i, what);
  if (v > UINT32_MAX) throw Napi::RangeError::New(info.Env(), std::string(what) + " does not fit in 32 bits");
  return static_cast<uint32_t>(v);
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

template <typename T>
T Load(const Bytes& b, size_t off) {
  T v;
  memcpy(&v, b.data() + off, sizeof v);
  return v;
}

// One syscall on the libuv pool; `parse` turns the filled buffer into the JS result.
class SyscallWorker : public Napi::AsyncWorker {
 public:
  using Call = std::function<long(Bytes&)>;
  using Parse = std::function<Napi::Value(Napi::Env, const Bytes&, long)>;

  SyscallWorker(Napi::Env env, const char* syscall, Bytes buf, Call call, Parse parse)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), syscall_(syscall),
        buf_(std::move(buf)), call_(std::move(call)), parse_(std::move(parse)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    ret_ = call_(buf_);
    if (ret_ < 0) err_ = errno;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (ret_ < 0) {
      deferred_.Reject(ErrnoError(env, syscall_, err_).Value());
      return;
    }
    try {
      deferred_.Resolve(parse_(env, buf_, ret_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const char* syscall_;
  Bytes buf_;
  Call call_;
  Parse parse_;
  long ret_ = 0;
  int err_ = 0;
};

Napi::Value Queue(Napi::Env env, const char* syscall, Bytes buf, SyscallWorker::Call call,
                  SyscallWorker::Parse parse) {
  auto* w = new SyscallWorker(env, syscall, std::move(buf), std::move(call), std::move(parse));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

SyscallWorker::Call Ioctl(int fd, unsigned long req) {
  return [fd, req](Bytes& b) -> long { return ioctl(fd, req, b.data()); };
}

// Firmware status: low 16 bits status, high 16 extended status (ACPI DSM convention).
void SetStatus(Napi::Object o, Napi::Env env, uint32_t status) {
  o.Set("status", Napi::Number::New(env, status & 0xffff));
  o.Set("extendedStatus", Napi::Number::New(env, status >> 16));
}

// arsCap(fd, address, length) → {status, extendedStatus, maxArsOut, clearErrUnit, flags, unfilled}
Napi::Value ArsCap(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  nd_cmd_ars_cap cmd{};
  cmd.address = ArgU64(info, 1, "address");
  cmd.length = ArgU64(info, 2, "length");
  Bytes buf(sizeof cmd);
  memcpy(buf.data(), &cmd, sizeof cmd);
  return Queue(info.Env(), "ioctl", std::move(buf), Ioctl(fd, ND_IOCTL_ARS_CAP),
               [](Napi::Env env, const Bytes& b, long ret) -> Napi::Value {
                 nd_cmd_ars_cap c;
                 memcpy(&c, b.data(), sizeof c);
                 Napi::Object o = Napi::Object::New(env);
                 o.Set("address", Big(env, c.address));
                 o.Set("length", Big(env, c.length));
                 SetStatus(o, env, c.status);
                 o.Set("maxArsOut", Napi::Number::New(env, c.max_ars_out));
                 o.Set("clearErrUnit", Napi::Number::New(env, c.clear_err_unit));
                 o.Set("flags", Napi::Number::New(env, c.flags));
                 o.Set("unfilled", Napi::Number::New(env, ret));
                 return o;
               });
}

// arsStart(fd, address, length, type, flags) → {status, extendedStatus, scrubTime, unfilled}
Napi::Value ArsStart(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  nd_cmd_ars_start cmd{};
  cmd.address = ArgU64(info, 1, "address");
  cmd.length = ArgU64(info, 2, "length");
  uint32_t type = ArgU32(info, 3, "type");
  uint32_t flags = ArgU32(info, 4, "flags");
  if (type > UINT16_MAX || flags > UINT8_MAX) throw Napi::RangeError::New(info.Env(), "type/flags out of range");
  cmd.type = static_cast<uint16_t>(type);
  cmd.flags = static_cast<uint8_t>(flags);
  Bytes buf(sizeof cmd);
  memcpy(buf.data(), &cmd, sizeof cmd);
  return Queue(info.Env(), "ioctl", std::move(buf), Ioctl(fd, ND_IOCTL_ARS_START),
               [](Napi::Env env, const Bytes& b, long ret) -> Napi::Value {
                 nd_cmd_ars_start c;
                 memcpy(&c, b.data(), sizeof c);
                 Napi::Object o = Napi::Object::New(env);
                 SetStatus(o, env, c.status);
                 o.Set("scrubTime", Napi::Number::New(env, c.scrub_time));
                 o.Set("unfilled", Napi::Number::New(env, ret));
                 return o;
               });
}

// arsStatus(fd, outLength) → the header fields, numRecords as the firmware said, and the
// records that actually fit in what it returned (TypeScript decides what a short return means).
Napi::Value ArsStatus(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  uint32_t outLength = ArgU32(info, 1, "outLength");
  if (outLength < sizeof(nd_cmd_ars_status) || outLength > (4u << 20))
    throw Napi::RangeError::New(info.Env(), "outLength must be between the ars_status header size and 4 MiB");
  // 4 bytes more than the firmware may fill: older kernels write past out_length (libndctl
  // pads its buffer the same way). out_length itself stays what ARS_CAP said.
  Bytes buf(outLength + 4, 0);
  uint32_t ol = outLength;
  memcpy(buf.data() + offsetof(nd_cmd_ars_status, out_length), &ol, sizeof ol);
  return Queue(
      info.Env(), "ioctl", std::move(buf), Ioctl(fd, ND_IOCTL_ARS_STATUS),
      [](Napi::Env env, const Bytes& b, long ret) -> Napi::Value {
        const size_t hdr = sizeof(nd_cmd_ars_status);
        const size_t rec = sizeof(nd_cmd_ars_status::nd_ars_record);
        Napi::Object o = Napi::Object::New(env);
        SetStatus(o, env, Load<uint32_t>(b, offsetof(nd_cmd_ars_status, status)));
        uint32_t out = Load<uint32_t>(b, offsetof(nd_cmd_ars_status, out_length));
        uint32_t num = Load<uint32_t>(b, offsetof(nd_cmd_ars_status, num_records));
        o.Set("outLength", Napi::Number::New(env, out));
        o.Set("address", Big(env, Load<uint64_t>(b, offsetof(nd_cmd_ars_status, address))));
        o.Set("length", Big(env, Load<uint64_t>(b, offsetof(nd_cmd_ars_status, length))));
        o.Set("restartAddress", Big(env, Load<uint64_t>(b, offsetof(nd_cmd_ars_status, restart_address))));
        o.Set("restartLength", Big(env, Load<uint64_t>(b, offsetof(nd_cmd_ars_status, restart_length))));
        o.Set("type", Napi::Number::New(env, Load<uint16_t>(b, offsetof(nd_cmd_ars_status, type))));
        o.Set("flags", Napi::Number::New(env, Load<uint16_t>(b, offsetof(nd_cmd_ars_status, flags))));
        o.Set("numRecords", Napi::Number::New(env, num));
        o.Set("unfilled", Napi::Number::New(env, ret));
        // Only read records inside both the buffer and the length the firmware reported.
        size_t limit = out < b.size() - 4 ? out : b.size() - 4;
        size_t fit = limit > hdr ? (limit - hdr) / rec : 0;
        size_t n = num < fit ? num : fit;
        Napi::Array records = Napi::Array::New(env, n);
        for (size_t i = 0; i < n; i++) {
          size_t at = hdr + i * rec;
          Napi::Object r = Napi::Object::New(env);
          r.Set("handle", Napi::Number::New(env, Load<uint32_t>(b, at + offsetof(nd_cmd_ars_status::nd_ars_record, handle))));
          r.Set("flags", Napi::Number::New(env, Load<uint32_t>(b, at + offsetof(nd_cmd_ars_status::nd_ars_record, reserved))));
          r.Set("address", Big(env, Load<uint64_t>(b, at + offsetof(nd_cmd_ars_status::nd_ars_record, err_address))));
          r.Set("length", Big(env, Load<uint64_t>(b, at + offsetof(nd_cmd_ars_status::nd_ars_record, length))));
          records.Set(i, r);
        }
        o.Set("records", records);
        return o;
      });
}

// clearError(fd, address, length) → {status, extendedStatus, cleared, unfilled}
Napi::Value ClearError(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  nd_cmd_clear_error cmd{};
  cmd.address = ArgU64(info, 1, "address");
  cmd.length = ArgU64(info, 2, "length");
  Bytes buf(sizeof cmd);
  memcpy(buf.data(), &cmd, sizeof cmd);
  return Queue(info.Env(), "ioctl", std::move(buf), Ioctl(fd, ND_IOCTL_CLEAR_ERROR),
               [](Napi::Env env, const Bytes& b, long ret) -> Napi::Value {
                 nd_cmd_clear_error c;
                 memcpy(&c, b.data(), sizeof c);
                 Napi::Object o = Napi::Object::New(env);
                 SetStatus(o, env, c.status);
                 o.Set("cleared", Big(env, c.cleared));
                 o.Set("unfilled", Napi::Number::New(env, ret));
                 return o;
               });
}

// ndCall(fd, family, command, input: Buffer, outLength) → {output: Buffer, fwSize, unfilled}
Napi::Value NdCall(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  uint64_t family = ArgU64(info, 1, "family");
  uint64_t command = ArgU64(info, 2, "command");
  if (info.Length() <= 3 || !info[3].IsBuffer()) throw Napi::TypeError::New(info.Env(), "input must be a Buffer");
  Napi::Buffer<uint8_t> in = info[3].As<Napi::Buffer<uint8_t>>();
  uint32_t outLength = ArgU32(info, 4, "outLength");
  if (in.Length() + outLength > (4u << 20)) throw Napi::RangeError::New(info.Env(), "payload larger than 4 MiB");
  nd_cmd_pkg pkg{};
  pkg.nd_family = family;
  pkg.nd_command = command;
  pkg.nd_size_in = static_cast<uint32_t>(in.Length());
  pkg.nd_size_out = outLength;
  Bytes buf(sizeof pkg + in.Length() + outLength, 0);
  memcpy(buf.data(), &pkg, sizeof pkg);
  if (in.Length()) memcpy(buf.data() + sizeof pkg, in.Data(), in.Length());
  size_t inLen = in.Length();
  return Queue(info.Env(), "ioctl", std::move(buf), Ioctl(fd, ND_IOCTL_CALL),
               [inLen, outLength](Napi::Env env, const Bytes& b, long ret) -> Napi::Value {
                 nd_cmd_pkg p;
                 memcpy(&p, b.data(), sizeof p);
                 Napi::Object o = Napi::Object::New(env);
                 o.Set("output", Napi::Buffer<uint8_t>::Copy(env, b.data() + sizeof p + inLen, outLength));
                 o.Set("fwSize", Napi::Number::New(env, p.nd_fw_size));
                 o.Set("unfilled", Napi::Number::New(env, ret));
                 return o;
               });
}

// msrRead(fd, reg) → bigint: /dev/cpu/N/msr reads the register whose number is the file offset.
Napi::Value MsrRead(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  uint64_t reg = ArgU64(info, 1, "reg");
  if (reg > UINT32_MAX) throw Napi::RangeError::New(info.Env(), "MSR number must fit in 32 bits");
  return Queue(
      info.Env(), "pread", Bytes(8, 0),
      [fd, reg](Bytes& b) -> long {
        ssize_t n = pread(fd, b.data(), 8, static_cast<off_t>(reg));
        if (n >= 0 && n != 8) {
          errno = EIO;
          return -1;
        }
        return n;
      },
      [](Napi::Env env, const Bytes& b, long) -> Napi::Value { return Big(env, Load<uint64_t>(b, 0)); });
}

// pollPri(fd, timeoutMs) → revents (0 on timeout). sysfs attributes signal a change with
// POLLPRI|POLLERR after the caller has read them once.
Napi::Value PollPri(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int timeout = static_cast<int>(ArgInt(info, 1, "timeoutMs", INT32_MAX));
  return Queue(
      info.Env(), "poll", Bytes(sizeof(short), 0),
      [fd, timeout](Bytes& b) -> long {
        struct pollfd p {};
        p.fd = fd;
        p.events = POLLPRI | POLLERR;
        int n;
        do n = poll(&p, 1, static_cast<int>(timeout));
        while (n < 0 && errno == EINTR);
        if (n < 0) return -1;
        short re = n == 0 ? 0 : p.revents;
        memcpy(b.data(), &re, sizeof re);
        return n;
      },
      [](Napi::Env env, const Bytes& b, long) -> Napi::Value { return Napi::Number::New(env, Load<short>(b, 0)); });
}

// zeroDax(fd, offset, length) → bigint bytes written. Maps [offset, offset+length) of a
// device-dax character device and writes zeros with stores that bypass the cache, then fences,
// so the zeros are in the persistence domain when the promise resolves. offset and length must
// honour the device's align (the kernel refuses the mmap otherwise: EINVAL). Call in chunks
// for progress.
Napi::Value ZeroDax(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  uint64_t offset = ArgU64(info, 1, "offset");
  uint64_t length = ArgU64(info, 2, "length");
  // Only a device-dax character device: a regular file maps too, and touching it past its end
  // kills the process with SIGBUS.
  struct stat st {};
  if (fstat(fd, &st) < 0) throw ErrnoError(info.Env(), "fstat", errno);
  if (!S_ISCHR(st.st_mode)) throw Napi::TypeError::New(info.Env(), "zeroDax: fd is not a character device");
  return Queue(
      info.Env(), "mmap", Bytes(0),
      [fd, offset, length](Bytes&) -> long {
        if (length == 0) return 0;
        void* m = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
        if (m == MAP_FAILED) return -1;
#if defined(__x86_64__)
        __m128i z = _mm_setzero_si128();
        auto* p = static_cast<__m128i*>(m);
        for (uint64_t i = 0; i < length / 16; i++) _mm_stream_si128(p + i, z);
        // The tail goes before the fence, so the fence orders every store of this call.
        uint8_t* tail = static_cast<uint8_t*>(m) + (length & ~uint64_t(15));
        for (uint64_t i = 0; i < (length & 15); i++) tail[i] = 0;
        _mm_sfence();
#else
        memset(m, 0, length);
        msync(m, length, MS_SYNC);
#endif
        munmap(m, length);
        return 0;
      },
      [length](Napi::Env env, const Bytes&, long) -> Napi::Value { return Big(env, length); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("arsCap", Napi::Function::New(env, ArsCap, "arsCap"));
  exports.Set("arsStart", Napi::Function::New(env, ArsStart, "arsStart"));
  exports.Set("arsStatus", Napi::Function::New(env, ArsStatus, "arsStatus"));
  exports.Set("clearError", Napi::Function::New(env, ClearError, "clearError"));
  exports.Set("ndCall", Napi::Function::New(env, NdCall, "ndCall"));
  exports.Set("msrRead", Napi::Function::New(env, MsrRead, "msrRead"));
  exports.Set("pollPri", Napi::Function::New(env, PollPri, "pollPri"));
  exports.Set("zeroDax", Napi::Function::New(env, ZeroDax, "zeroDax"));
  InitNotify(env, exports);
  InitEngine(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(daxram_native, Init)
