// ztroot's Linux TAP access: the few system calls Node.js cannot make itself (ioctl on /dev/net/tun and on an
// AF_INET socket) and a frame reader driven by a libuv poll handle on the TAP's non-blocking fd, so reading never
// blocks the event loop, never busy-polls and holds no thread. Everything else (naming, addresses, routes, policy)
// is TypeScript in leaf/tap*.ts. Written from the Linux man pages (tun/tap, netdevice(7)); see vl2.md §7.
//
// JS API (leaf/tap-native.ts wraps it):
//   open(name: string) -> number                      fd of a new non-persistent TAP (IFF_TAP|IFF_NO_PI), O_NONBLOCK|O_CLOEXEC
//   setMac(name: string, mac: Uint8Array(6)) -> void  SIOCSIFHWADDR (ARPHRD_ETHER)
//   setMtu(name: string, mtu: number) -> void         SIOCSIFMTU
//   setUp(name: string) -> void                       SIOCSIFFLAGS |= IFF_UP|IFF_MULTICAST
//   write(fd: number, frame: Uint8Array) -> number    one write(); bytes written, or -errno
//   close(fd: number) -> void
//   (errors carry .errno and .syscall; the wrapper names the errno through os.constants.errno)
//   new Reader(fd, frameMax, batchMax, onBatch)       onBatch(batch: Buffer, count: number, errno: number):
//       batch holds `count` frames, each as a big-endian u16 length then the frame; errno != 0 means the fd failed
//       (the reader has stopped). reader.stop() stops it (idempotent).
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

const char* kTunPath = "/dev/net/tun";

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " " + what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IfName(const Napi::CallbackInfo& info, size_t i, struct ifreq* ifr) {
  memset(ifr, 0, sizeof(*ifr));
  if (!info[i].IsString()) {
    Napi::TypeError::New(info.Env(), "interface name must be a string").ThrowAsJavaScriptException();
    return false;
  }
  std::string name = info[i].As<Napi::String>().Utf8Value();
  if (name.size() >= IFNAMSIZ) {
    Napi::TypeError::New(info.Env(), "interface name longer than 15 bytes: " + name).ThrowAsJavaScriptException();
    return false;
  }
  strncpy(ifr->ifr_name, name.c_str(), IFNAMSIZ - 1);
  return true;
}

// The bytes of any TypedArray (a Buffer is a Uint8Array), whatever its element type: no copy.
bool Bytes(Napi::Env env, Napi::Value v, const uint8_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  napi_typedarray_type type;
  size_t length;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr, nullptr) != napi_ok) return false;
  size_t size = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: size = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: size = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: size = 8; break;
    default: break;
  }
  *data = static_cast<const uint8_t*>(ptr);  // already advanced by the view's byte offset
  *len = length * size;
  return true;
}

// SIOCSIF* requests go through any socket of the current network namespace.
int IfIoctl(unsigned long req, struct ifreq* ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int r = ioctl(s, req, ifr);
  int err = r < 0 ? errno : 0;
  close(s);
  return err;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfName(info, 0, &ifr)) return env.Undefined();
  int fd = open(kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ThrowErrno(env, "open", kTunPath, errno);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl(TUNSETIFF)", ifr.ifr_name, err);
  }
  // Not persistent: the device goes away with the last fd, so a crashed leaf leaves nothing behind.
  if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl(TUNSETPERSIST)", ifr.ifr_name, err);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value SetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfName(info, 0, &ifr)) return env.Undefined();
  const uint8_t* mac;
  size_t len;
  if (!Bytes(env, info[1], &mac, &len) || len != 6) {
    Napi::TypeError::New(env, "MAC must be a 6-byte Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  int err = IfIoctl(SIOCSIFHWADDR, &ifr);
  if (err != 0) return ThrowErrno(env, "ioctl(SIOCSIFHWADDR)", ifr.ifr_name, err);
  return env.Undefined();
}

Napi::Value SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfName(info, 0, &ifr)) return env.Undefined();
  if (!info[1].IsNumber()) {
    Napi::TypeError::New(env, "MTU must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ifr.ifr_mtu = info[1].As<Napi::Number>().Int32Value();
  int err = IfIoctl(SIOCSIFMTU, &ifr);
  if (err != 0) return ThrowErrno(env, "ioctl(SIOCSIFMTU)", ifr.ifr_name, err);
  return env.Undefined();
}

Napi::Value SetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  if (!IfName(info, 0, &ifr)) return env.Undefined();
  int err = IfIoctl(SIOCGIFFLAGS, &ifr);
  if (err != 0) return ThrowErrno(env, "ioctl(SIOCGIFFLAGS)", ifr.ifr_name, err);
  ifr.ifr_flags |= IFF_UP | IFF_MULTICAST;
  err = IfIoctl(SIOCSIFFLAGS, &ifr);
  if (err != 0) return ThrowErrno(env, "ioctl(SIOCSIFFLAGS)", ifr.ifr_name, err);
  return env.Undefined();
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t len;
  if (!info[0].IsNumber() || !Bytes(env, info[1], &data, &len)) {
    Napi::TypeError::New(env, "write(fd: number, frame: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  ssize_t n;
  do n = write(fd, data, len);
  while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "close(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (close(info[0].As<Napi::Number>().Int32Value()) < 0) return ThrowErrno(env, "close", "TAP fd", errno);
  return env.Undefined();
}

// Reads every frame the kernel has queued on a readable event (up to batchMax, then yields to the loop: libuv's
// poll is level-triggered, so the rest is read on the next turn) and hands them to JS in one call, one copy.
class Reader : public Napi::ObjectWrap<Reader> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Reader", {InstanceMethod("stop", &Reader::Stop)});
  }

  explicit Reader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Reader>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsFunction()) {
      Napi::TypeError::New(env, "new Reader(fd, frameMax, batchMax, onBatch)").ThrowAsJavaScriptException();
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    frameMax_ = info[1].As<Napi::Number>().Uint32Value();
    batchMax_ = info[2].As<Napi::Number>().Uint32Value();
    if (frameMax_ < 14 || frameMax_ > 65534 || batchMax_ < 1 || batchMax_ > 4096) {
      Napi::RangeError::New(env, "frameMax must be 14..65534 and batchMax 1..4096").ThrowAsJavaScriptException();
      return;
    }
    // One extra byte per frame slot tells a frame longer than frameMax (the kernel would otherwise cut it silently).
    scratch_.resize(static_cast<size_t>(batchMax_) * (frameMax_ + 1 + 2));
    callback_ = Napi::Persistent(info[3].As<Napi::Function>());
    context_ = new Napi::AsyncContext(env, "ztroot:tap-reader");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd_);
    if (r == 0) r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (r != 0) {
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, std::string("uv_poll on the TAP fd: ") + uv_strerror(r)).ThrowAsJavaScriptException();
      return;
    }
    poll_->data = this;
    env_ = env;
    Ref();  // alive while polling: the JS object may be dropped by its owner, the poll handle still points here
  }

  ~Reader() override {
    // Only reached with the poll still running when the environment is torn down (otherwise we hold a reference).
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    }
    delete context_;
  }

 private:
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (poll_ == nullptr) return;
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    Unref();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Reader* self = static_cast<Reader*>(handle->data);
    if (self != nullptr) self->Drain(status);
  }

  void Drain(int status) {
    size_t used = 0;
    uint32_t count = 0;
    int failed = status < 0 ? -status : 0;
    while (failed == 0 && count < batchMax_) {
      uint8_t* slot = scratch_.data() + used;
      ssize_t n = read(fd_, slot + 2, frameMax_ + 1);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) failed = errno;
        break;
      }
      // Lengths above frameMax are passed as frameMax+1 (the bytes beyond were cut) so JS can count the drop.
      slot[0] = static_cast<uint8_t>(n >> 8);
      slot[1] = static_cast<uint8_t>(n);
      used += 2 + static_cast<size_t>(n);
      count++;
    }
    if (count == 0 && failed == 0) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> batch = Napi::Buffer<uint8_t>::Copy(env, scratch_.data(), used);
    // Held across the call: the callback may stop() us, dropping the reference that kept this object alive.
    Ref();
    if (failed != 0) StopPolling();
    callback_.MakeCallback(Value(), {batch, Napi::Number::New(env, count), Napi::Number::New(env, failed)}, *context_);
    Unref();
    if (env.IsExceptionPending()) {
      // A listener threw: report it as Node reports any exception thrown from an I/O callback.
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  int fd_ = -1;
  uint32_t frameMax_ = 0;
  uint32_t batchMax_ = 0;
  std::vector<uint8_t> scratch_;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  napi_env env_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("setMac", Napi::Function::New(env, SetMac, "setMac"));
  exports.Set("setMtu", Napi::Function::New(env, SetMtu, "setMtu"));
  exports.Set("setUp", Napi::Function::New(env, SetUp, "setUp"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("Reader", Reader::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(ztroot_tap, Init)
