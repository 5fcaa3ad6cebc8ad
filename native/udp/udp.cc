// ztroot's batched UDP socket: recvmmsg/sendmmsg on a non-blocking socket watched by a libuv poll handle on the
// event loop's own epoll (no thread, no busy polling). Node's dgram makes one recvmsg and one sendmsg (and one JS
// callback, one Buffer, one rinfo object, one IP string) per datagram; on the relay path those are most of the
// time (DESIGN.md "Performance model"). Written from the Linux man pages (recvmmsg(2), sendmmsg(2), socket(7),
// ipv6(7)).
//
// JS API (root/batched-udp.ts wraps it):
//   new Socket(family: 4|6, address: string, port: number, reusePort: boolean, bufBytes: number,
//              rxData: Uint8Array, rxMeta: Uint32Array, slotBytes: number, batch: number,
//              stats: Float64Array(STATS), onBatch: (count: number) => void)
//     Binds a socket (IPV6_V6ONLY for v6; SO_RCVBUF/SO_SNDBUF = bufBytes; SO_REUSEPORT when asked).
//     rxData holds `batch` slots of `slotBytes`; rxMeta holds META_WORDS words per datagram:
//       [0] length (slotBytes + 1 when the datagram was longer: its tail was cut), [1] family 4|6, [2] port,
//       [3] 0, [4..7] the source IP's bytes (IPv4 in the first 4).
//     Both arrays are the caller's, preallocated and reused for every batch: onBatch(count) reads them before it
//     returns. No JS value is made per datagram or per batch on receive.
//   socket.send(data: Uint8Array, ip: string, port: number) -> boolean
//     Copies the datagram into the socket's send batch (false: not queued — bad address or oversized, counted).
//     The batch goes out with one sendmmsg when it is full, right after each onBatch returns, and otherwise just
//     before the loop next waits for I/O (a libuv prepare handle): a datagram queued anywhere in a loop turn
//     leaves in that turn.
//   socket.flush() -> void          sends the batch now
//   socket.port() -> number         the bound port
//   socket.ref() / socket.unref()   whether the socket keeps the event loop alive (as dgram's)
//   socket.close() -> void          flushes, stops polling, closes the fd (idempotent)
//   stats (Float64Array, the caller's): see the STAT_* indices below.
// Errors: TypeError / RangeError for bad arguments; Error with .errno and .syscall for failed system calls.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kMetaWords = 8;
// Per readable event at most this many recvmmsg batches are handed to JS before the loop gets its turn.
constexpr int kBatchesPerEvent = 4;

enum Stat {
  STAT_RX_DATAGRAMS = 0,
  STAT_RX_BATCHES,
  STAT_RX_TRUNCATED,
  STAT_RX_ERRORS,
  STAT_TX_DATAGRAMS,
  STAT_TX_BATCHES,
  STAT_TX_DROPPED_AGAIN,  // EAGAIN/ENOBUFS: the send buffer is full; dropped, not retried (UDP may drop anyway)
  STAT_TX_ERRORS,         // other per-datagram send errors (unreachable, not permitted, ...)
  STAT_TX_REJECTED,       // not queued: bad address, wrong family, oversized
  STAT_COUNT
};

Napi::Value ThrowErrno(Napi::Env env, const char* syscall, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " " + what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

template <typename T>
bool TypedArrayOf(Napi::Value v, napi_typedarray_type want, T** data, size_t* length) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != want) return false;
  napi_typedarray_type type;
  void* ptr;
  if (napi_get_typedarray_info(v.Env(), v, &type, length, &ptr, nullptr, nullptr) != napi_ok) return false;
  *data = static_cast<T*>(ptr);
  return true;
}

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Socket",
                       {InstanceMethod("send", &Socket::Send), InstanceMethod("flush", &Socket::Flush),
                        InstanceMethod("port", &Socket::Port), InstanceMethod("ref", &Socket::RefLoop),
                        InstanceMethod("unref", &Socket::UnrefLoop), InstanceMethod("close", &Socket::Close)});
  }

  explicit Socket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Socket>(info) {
    Napi::Env env = info.Env();
    const char* usage =
        "new Socket(family: 4|6, address: string, port: number, reusePort: boolean, bufBytes: number, rxData: Uint8Array, "
        "rxMeta: Uint32Array, slotBytes: number, batch: number, stats: Float64Array, onBatch: function)";
    if (info.Length() != 11 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsBoolean() ||
        !info[4].IsNumber() || !info[7].IsNumber() || !info[8].IsNumber() || !info[10].IsFunction()) {
      Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
      return;
    }
    family_ = info[0].As<Napi::Number>().Int32Value();
    std::string address = info[1].As<Napi::String>().Utf8Value();
    double port = info[2].As<Napi::Number>().DoubleValue();
    bool reusePort = info[3].As<Napi::Boolean>().Value();
    double bufBytes = info[4].As<Napi::Number>().DoubleValue();
    double slot = info[7].As<Napi::Number>().DoubleValue();
    double batch = info[8].As<Napi::Number>().DoubleValue();
    if (family_ != 4 && family_ != 6) {
      Napi::RangeError::New(env, "family must be 4 or 6, not " + std::to_string(family_)).ThrowAsJavaScriptException();
      return;
    }
    if (!(port >= 0 && port <= 65535 && port == static_cast<int>(port))) {
      Napi::RangeError::New(env, "port must be an integer 0..65535").ThrowAsJavaScriptException();
      return;
    }
    if (!(slot >= 64 && slot <= 65536) || !(batch >= 1 && batch <= 1024) || !(bufBytes >= 0 && bufBytes <= (1 << 30))) {
      Napi::RangeError::New(env, "slotBytes must be 64..65536, batch 1..1024, bufBytes 0..2^30").ThrowAsJavaScriptException();
      return;
    }
    slot_ = static_cast<uint32_t>(slot);
    batch_ = static_cast<uint32_t>(batch);
    size_t n = 0;
    if (!TypedArrayOf(info[5], napi_uint8_array, &rxData_, &n) || n < static_cast<size_t>(slot_) * batch_) {
      Napi::TypeError::New(env, "rxData must be a Uint8Array of at least slotBytes * batch bytes").ThrowAsJavaScriptException();
      return;
    }
    if (!TypedArrayOf(info[6], napi_uint32_array, &rxMeta_, &n) || n < static_cast<size_t>(kMetaWords) * batch_) {
      Napi::TypeError::New(env, "rxMeta must be a Uint32Array of at least 8 * batch words").ThrowAsJavaScriptException();
      return;
    }
    if (!TypedArrayOf(info[9], napi_float64_array, &stats_, &n) || n < STAT_COUNT) {
      Napi::TypeError::New(env, "stats must be a Float64Array of at least " + std::to_string(STAT_COUNT) + " entries").ThrowAsJavaScriptException();
      return;
    }
    sockaddr_storage sa;
    socklen_t salen;
    if (!ParseAddress(address.c_str(), static_cast<int>(port), &sa, &salen)) {
      Napi::TypeError::New(env, "not an IPv" + std::to_string(family_) + " address: '" + address + "'").ThrowAsJavaScriptException();
      return;
    }
    // The caller's arrays stay alive as long as we do: we hold references to them.
    rxDataRef_ = Napi::Persistent(info[5].As<Napi::Object>());
    rxMetaRef_ = Napi::Persistent(info[6].As<Napi::Object>());
    statsRef_ = Napi::Persistent(info[9].As<Napi::Object>());
    callback_ = Napi::Persistent(info[10].As<Napi::Function>());

    fd_ = socket(family_ == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      ThrowErrno(env, "socket", family_ == 4 ? "AF_INET" : "AF_INET6", errno);
      return;
    }
    int one = 1;
    int size = static_cast<int>(bufBytes);
    if (family_ == 6 && setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
      Fail(env, "setsockopt(IPV6_V6ONLY)", address);
      return;
    }
    if (reusePort && setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
      Fail(env, "setsockopt(SO_REUSEPORT)", address);
      return;
    }
    // Best effort, as dgram's recvBufferSize: the kernel caps them at net.core.{r,w}mem_max.
    if (size > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), salen) < 0) {
      Fail(env, "bind", address + " port " + std::to_string(static_cast<int>(port)));
      return;
    }

    // Receive: one msghdr per slot, pointing into the caller's rxData, source into rxNames_.
    rxNames_.resize(batch_);
    rxIov_.resize(batch_);
    rxMsgs_.resize(batch_);
    for (uint32_t i = 0; i < batch_; i++) {
      // One byte more than a slot would be a datagram we could not hold: MSG_TRUNC tells it instead.
      rxIov_[i].iov_base = rxData_ + static_cast<size_t>(i) * slot_;
      rxIov_[i].iov_len = slot_;
    }
    // Send: an arena of batch slots, one msghdr per queued datagram.
    // Not zeroed: a page of it becomes resident only once a datagram is copied there (small datagrams touch one per slot).
    txArena_.reset(new uint8_t[static_cast<size_t>(batch_) * slot_]);
    txNames_.resize(batch_);
    txIov_.resize(batch_);
    txMsgs_.resize(batch_);

    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      close(fd_);
      fd_ = -1;
      Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd_);
    if (r == 0) r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (r != 0) {
      delete poll_;
      poll_ = nullptr;
      close(fd_);
      fd_ = -1;
      Napi::Error::New(env, std::string("uv_poll on the UDP socket: ") + uv_strerror(r)).ThrowAsJavaScriptException();
      return;
    }
    poll_->data = this;
    // Flushes what was queued outside onBatch (timers, other sockets, promises) before the loop blocks. Unref'd:
    // it never keeps the loop alive by itself.
    prepare_ = new uv_prepare_t;
    uv_prepare_init(loop, prepare_);
    prepare_->data = this;
    uv_prepare_start(prepare_, OnPrepare);
    uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
    context_ = new Napi::AsyncContext(env, "ztroot:udp");
    env_ = env;
    Ref();  // alive while open: the poll handle points here even if JS drops the object
  }

  ~Socket() override {
    // Reached with handles open only when the environment is torn down (otherwise we hold a reference).
    CloseHandles();
    if (fd_ >= 0) close(fd_);
    delete context_;
  }

 private:
  void Fail(Napi::Env env, const char* syscall, const std::string& what) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, syscall, what, err);
  }

  bool ParseAddress(const char* ip, int port, sockaddr_storage* sa, socklen_t* len) const {
    memset(sa, 0, sizeof *sa);
    if (family_ == 4) {
      sockaddr_in* s = reinterpret_cast<sockaddr_in*>(sa);
      s->sin_family = AF_INET;
      s->sin_port = htons(static_cast<uint16_t>(port));
      *len = sizeof *s;
      return inet_pton(AF_INET, ip, &s->sin_addr) == 1;
    }
    sockaddr_in6* s = reinterpret_cast<sockaddr_in6*>(sa);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *s;
    // Scoped addresses (fe80::1%eth0) are not ZeroTier physical addresses; inet_pton refuses them.
    return inet_pton(AF_INET6, ip, &s->sin6_addr) == 1;
  }

  // send(data, ip, port): copy into the batch. Hot path: no JS value is created.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsString() || !info[2].IsNumber()) {
      Napi::TypeError::New(env, "send(data: Uint8Array, ip: string, port: number)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) {
      stats_[STAT_TX_REJECTED]++;
      return Napi::Boolean::New(env, false);
    }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr);
    char ip[INET6_ADDRSTRLEN + 1];
    size_t iplen = 0;
    // A string longer than any address is cut to one that does not parse.
    napi_get_value_string_utf8(env, info[1], ip, sizeof ip, &iplen);
    double port = info[2].As<Napi::Number>().DoubleValue();
    if (type != napi_uint8_array || length > slot_ || !(port >= 1 && port <= 65535 && port == static_cast<int>(port))) {
      stats_[STAT_TX_REJECTED]++;
      return Napi::Boolean::New(env, false);
    }
    if (txCount_ == batch_) FlushNow();
    uint32_t i = txCount_;
    socklen_t salen;
    if (!ParseAddress(ip, static_cast<int>(port), &txNames_[i], &salen)) {
      stats_[STAT_TX_REJECTED]++;
      return Napi::Boolean::New(env, false);
    }
    uint8_t* slot = txArena_.get() + static_cast<size_t>(i) * slot_;
    memcpy(slot, data, length);
    txIov_[i].iov_base = slot;
    txIov_[i].iov_len = length;
    msghdr& h = txMsgs_[i].msg_hdr;
    memset(&h, 0, sizeof h);
    h.msg_name = &txNames_[i];
    h.msg_namelen = salen;
    h.msg_iov = &txIov_[i];
    h.msg_iovlen = 1;
    txCount_ = i + 1;
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    FlushNow();
    return info.Env().Undefined();
  }

  Napi::Value Port(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return Napi::Number::New(env, 0);
    sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return ThrowErrno(env, "getsockname", "UDP socket", errno);
    uint16_t p = sa.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&sa)->sin_port : reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port;
    return Napi::Number::New(env, ntohs(p));
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) {
      FlushNow();
      CloseHandles();
      close(fd_);
      fd_ = -1;
      Unref();
    }
    return info.Env().Undefined();
  }

  void CloseHandles() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (prepare_ != nullptr) {
      uv_prepare_stop(prepare_);
      prepare_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
      prepare_ = nullptr;
    }
  }

  void FlushNow() {
    uint32_t n = txCount_;
    txCount_ = 0;
    if (n == 0 || fd_ < 0) return;
    stats_[STAT_TX_BATCHES]++;
    uint32_t i = 0;
    while (i < n) {
      int r = sendmmsg(fd_, &txMsgs_[i], n - i, 0);
      if (r > 0) {
        stats_[STAT_TX_DATAGRAMS] += r;
        i += static_cast<uint32_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        // The send buffer is full: the rest of this batch would only find it full again. Drop and count; a UDP
        // sender must tolerate loss, and waiting here would stall every other peer's datagrams.
        stats_[STAT_TX_DROPPED_AGAIN] += n - i;
        return;
      }
      // This datagram failed (sendmmsg reports the first failure): count it, go on with the next.
      stats_[STAT_TX_ERRORS]++;
      i++;
    }
  }

  static void OnPrepare(uv_prepare_t* h) {
    Socket* self = static_cast<Socket*>(h->data);
    if (self != nullptr && self->txCount_ > 0) self->FlushNow();
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Socket* self = static_cast<Socket*>(handle->data);
    if (self != nullptr) self->Drain(status);
  }

  void Drain(int status) {
    if (status < 0) {
      stats_[STAT_RX_ERRORS]++;
      return;
    }
    Napi::Env env = env_;
    for (int round = 0; round < kBatchesPerEvent && fd_ >= 0; round++) {
      for (uint32_t i = 0; i < batch_; i++) {
        msghdr& h = rxMsgs_[i].msg_hdr;
        h.msg_name = &rxNames_[i];
        h.msg_namelen = sizeof rxNames_[i];
        h.msg_iov = &rxIov_[i];
        h.msg_iovlen = 1;
        h.msg_control = nullptr;
        h.msg_controllen = 0;
        h.msg_flags = 0;
      }
      int n = recvmmsg(fd_, rxMsgs_.data(), batch_, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        // EAGAIN: drained. Anything else (e.g. a pending ICMP error on some kernels) is counted, not fatal.
        if (errno != EAGAIN && errno != EWOULDBLOCK) stats_[STAT_RX_ERRORS]++;
        return;
      }
      if (n == 0) return;
      for (int i = 0; i < n; i++) {
        uint32_t* m = rxMeta_ + static_cast<size_t>(i) * kMetaWords;
        const msghdr& h = rxMsgs_[i].msg_hdr;
        uint32_t len = rxMsgs_[i].msg_len;
        if (h.msg_flags & MSG_TRUNC) {
          len = slot_ + 1;
          stats_[STAT_RX_TRUNCATED]++;
        }
        m[0] = len;
        m[3] = 0;
        if (rxNames_[i].ss_family == AF_INET) {
          const sockaddr_in* s = reinterpret_cast<const sockaddr_in*>(&rxNames_[i]);
          m[1] = 4;
          m[2] = ntohs(s->sin_port);
          m[4] = m[5] = m[6] = m[7] = 0;
          memcpy(&m[4], &s->sin_addr, 4);
        } else {
          const sockaddr_in6* s = reinterpret_cast<const sockaddr_in6*>(&rxNames_[i]);
          m[1] = 6;
          m[2] = ntohs(s->sin6_port);
          memcpy(&m[4], &s->sin6_addr, 16);
        }
      }
      stats_[STAT_RX_DATAGRAMS] += n;
      stats_[STAT_RX_BATCHES]++;
      {
        Napi::HandleScope scope(env);
        Ref();  // the callback may close us, dropping the reference that keeps this object alive
        callback_.MakeCallback(Value(), {Napi::Number::New(env, n)}, *context_);
        FlushNow();  // the replies and relayed datagrams of this batch, in one sendmmsg
        Unref();
        if (env.IsExceptionPending()) {
          // A listener threw: report it as Node reports any exception thrown from an I/O callback.
          Napi::Error e = env.GetAndClearPendingException();
          napi_fatal_exception(env, e.Value());
          return;
        }
      }
      if (static_cast<uint32_t>(n) < batch_) return;  // the queue is (very likely) empty: save a recvmmsg
    }
  }

  int family_ = 4;
  int fd_ = -1;
  uint32_t slot_ = 0;
  uint32_t batch_ = 0;
  uint8_t* rxData_ = nullptr;
  uint32_t* rxMeta_ = nullptr;
  double* stats_ = nullptr;
  Napi::ObjectReference rxDataRef_, rxMetaRef_, statsRef_;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* context_ = nullptr;
  std::vector<sockaddr_storage> rxNames_;
  std::vector<iovec> rxIov_;
  std::vector<mmsghdr> rxMsgs_;
  std::unique_ptr<uint8_t[]> txArena_;
  std::vector<sockaddr_storage> txNames_;
  std::vector<iovec> txIov_;
  std::vector<mmsghdr> txMsgs_;
  uint32_t txCount_ = 0;
  uv_poll_t* poll_ = nullptr;
  uv_prepare_t* prepare_ = nullptr;
  napi_env env_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Socket", Socket::Init(env));
  exports.Set("STATS", Napi::Number::New(env, STAT_COUNT));
  exports.Set("META_WORDS", Napi::Number::New(env, kMetaWords));
  return exports;
}

}  // namespace

NODE_API_MODULE(ztroot_udp, Init)
