// Stand-in libnccl.so.2 (test only): the NCCL 2 entry points plugkit binds, over the emulated
// device. ncclGetUniqueId starts a hub thread in the calling process listening on a localhost TCP
// port; the 128-byte id holds a magic, that port and a random token. Every rank, a thread of this
// process or of another, connects to the hub; a collective is host work enqueued on the caller's
// emulated stream: the stream's worker sends the rank's input to the hub and blocks until the
// result comes back, as a real NCCL kernel occupies its stream until the peers arrive. The hub
// reduces in rank order 0, 1, ..., n-1, so every rank gets the same bits. It checks that the ranks
// agree on each collective (kind, type, op, count, root); a disagreement, a rank that leaves or a
// timeout (PKEMU_NCCL_TIMEOUT_S, default 300) is an async error on every rank's communicator.
#include <cmath>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include "emulator.h"

namespace {
enum Result {
  SUCCESS = 0,
  UNHANDLED_CUDA_ERROR = 1,
  SYSTEM_ERROR = 2,
  INTERNAL_ERROR = 3,
  INVALID_ARGUMENT = 4,
  INVALID_USAGE = 5,
  REMOTE_ERROR = 6,
};
enum DataType { INT8, UINT8, INT32, UINT32, INT64, UINT64, FLOAT16, FLOAT32, FLOAT64, BFLOAT16, TYPES };
enum RedOp { SUM, PROD, MAX, MIN, AVG, OPS };
enum Kind : int32_t { ALL_REDUCE = 1, BROADCAST = 2, ALL_GATHER = 3, REDUCE_SCATTER = 4 };

constexpr char MAGIC[8] = {'P', 'K', 'N', 'C', 'C', 'L', '0', '1'};
constexpr int VERSION = 22603;  // reports itself as NCCL 2.26.3

struct Id {  // the layout of the 128 bytes of ncclUniqueId
  char magic[8];
  uint16_t port;
  uint8_t token[16];
  char unused[128 - 8 - 2 - 16];
};
static_assert(sizeof(Id) == 128, "ncclUniqueId is 128 bytes");

struct Hello {
  uint8_t token[16];
  int32_t rank;
  int32_t nranks;
};

struct Header {
  uint64_t seq;
  int32_t kind, type, op, root;
  uint64_t count;
};

size_t type_size(int t) {
  switch (t) {
    case INT8: case UINT8: return 1;
    case FLOAT16: case BFLOAT16: return 2;
    case INT32: case UINT32: case FLOAT32: return 4;
    default: return 8;
  }
}

const char* kind_name(int k) {
  switch (k) {
    case ALL_REDUCE: return "ncclAllReduce";
    case BROADCAST: return "ncclBroadcast";
    case ALL_GATHER: return "ncclAllGather";
    case REDUCE_SCATTER: return "ncclReduceScatter";
    default: return "?";
  }
}

int timeout_ms() {
  static const int ms = [] {
    const char* env = getenv("PKEMU_NCCL_TIMEOUT_S");
    const int s = env ? atoi(env) : 0;
    return (s > 0 ? s : 300) * 1000;
  }();
  return ms;
}

thread_local std::string t_lastError;

int failed(int result, const std::string& why) {
  t_lastError = why;
  return result;
}

// Whole reads and writes; false on error, end of stream or (reads) no data within the timeout.
bool write_all(int fd, const void* p, size_t n) {
  const char* c = (const char*)p;
  while (n > 0) {
    const ssize_t k = send(fd, c, n, MSG_NOSIGNAL);  // a closed peer must not SIGPIPE the JVM
    if (k <= 0) return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

bool read_all(int fd, void* p, size_t n, int waitMs = timeout_ms()) {
  char* c = (char*)p;
  while (n > 0) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, waitMs) <= 0) return false;
    const ssize_t k = recv(fd, c, n, 0);
    if (k <= 0) return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

// ---- the hub: one per unique id, in the process that made the id -------------------------

// Max and min of floats as NCCL's kernels do them, with fmax/fmin: a NaN loses to a number.
template <typename T>
T max_of(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) return std::fmax(a, b);
  else return b > a ? b : a;
}

template <typename T>
T min_of(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) return std::fmin(a, b);
  else return b < a ? b : a;
}

template <typename T>
void reduce(T* acc, const T* x, size_t n, int op) {
  for (size_t i = 0; i < n; ++i) {
    switch (op) {
      case SUM: case AVG: acc[i] = acc[i] + x[i]; break;
      case PROD: acc[i] = acc[i] * x[i]; break;
      case MAX: acc[i] = max_of(acc[i], x[i]); break;
      case MIN: acc[i] = min_of(acc[i], x[i]); break;
    }
  }
}

// ncclAvg as NCCL computes it: floats pre-multiplied by 1/n then summed, integers summed then divided.
template <typename T>
void reduce_all(char* out, const std::vector<std::vector<char>>& in, size_t offset, size_t n, int op) {
  T* acc = (T*)out;
  const int ranks = (int)in.size();
  const bool premul = op == AVG && std::is_floating_point<T>::value;
  const T scale = premul ? (T)(1.0 / ranks) : (T)1;
  memcpy(acc, in[0].data() + offset * sizeof(T), n * sizeof(T));
  if (premul) for (size_t i = 0; i < n; ++i) acc[i] = acc[i] * scale;
  std::vector<T> scaled(premul ? n : 0);
  for (int r = 1; r < ranks; ++r) {
    const T* x = (const T*)(in[r].data() + offset * sizeof(T));
    if (premul) {
      for (size_t i = 0; i < n; ++i) scaled[i] = x[i] * scale;
      x = scaled.data();
    }
    reduce(acc, x, n, op);
  }
  if (op == AVG && !premul) for (size_t i = 0; i < n; ++i) acc[i] = acc[i] / (T)ranks;
}

void reduce_typed(int type, char* out, const std::vector<std::vector<char>>& in, size_t offset, size_t n, int op) {
  switch (type) {
    case INT8: reduce_all<int8_t>(out, in, offset, n, op); break;
    case UINT8: reduce_all<uint8_t>(out, in, offset, n, op); break;
    case INT32: reduce_all<int32_t>(out, in, offset, n, op); break;
    case UINT32: reduce_all<uint32_t>(out, in, offset, n, op); break;
    case INT64: reduce_all<int64_t>(out, in, offset, n, op); break;
    case UINT64: reduce_all<uint64_t>(out, in, offset, n, op); break;
    case FLOAT32: reduce_all<float>(out, in, offset, n, op); break;
    case FLOAT64: reduce_all<double>(out, in, offset, n, op); break;
  }
}

// Bytes a rank sends for a collective, and bytes it gets back.
size_t send_bytes(const Header& h, int rank, int ranks) {
  const size_t e = type_size(h.type);
  switch (h.kind) {
    case BROADCAST: return rank == h.root ? h.count * e : 0;
    case REDUCE_SCATTER: return h.count * ranks * e;
    default: return h.count * e;
  }
}

size_t reply_bytes(const Header& h, int ranks) {
  return h.kind == ALL_GATHER ? h.count * ranks * type_size(h.type) : h.count * type_size(h.type);
}

// What the process that runs a hub knows of it: a rank there must not let the process exit while
// the hub still owes the other ranks the result of a collective that rank has finished.
struct HubState {
  uint8_t token[16];
  std::atomic<uint64_t> delivered{0};  // collectives whose results went to every rank
  std::atomic<bool> done{false};
};

struct Hub {
  int listener;
  uint8_t token[16];
  HubState* state;  // kept for the process's life: a few bytes per unique id
};

std::mutex g_hubs;
std::vector<HubState*> g_hubStates;

HubState* local_hub(const uint8_t* token) {
  std::lock_guard<std::mutex> lock(g_hubs);
  for (HubState* h : g_hubStates) {
    if (memcmp(h->token, token, 16) == 0) return h;
  }
  return nullptr;
}

// Status then, on success, the rank's result; on failure a text of up to 200 bytes.
void reply_error(const std::vector<int>& fds, int status, const std::string& why) {
  char text[200] = {0};
  snprintf(text, sizeof text, "%s", why.c_str());
  for (int fd : fds) {
    if (fd < 0) continue;
    int32_t s = status;
    write_all(fd, &s, 4);
    write_all(fd, text, sizeof text);
  }
}

void close_all(std::vector<int>& fds) {
  for (int& fd : fds) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

void hub_loop(Hub hub);

void hub_main(Hub hub) {
  hub_loop(hub);
  hub.state->done = true;
}

void hub_loop(Hub hub) {
  std::vector<int> fds;
  int ranks = 0;
  int joined = 0;
  // Join: every rank connects and says who it is.
  while (ranks == 0 || joined < ranks) {
    pollfd pfd{hub.listener, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms()) <= 0) {
      reply_error(fds, SYSTEM_ERROR, "timed out waiting for " + std::to_string(ranks - joined) + " more ranks to join");
      close_all(fds);
      close(hub.listener);
      return;
    }
    const int fd = accept(hub.listener, nullptr, nullptr);
    if (fd < 0) continue;
    Hello h;
    if (!read_all(fd, &h, sizeof h) || memcmp(h.token, hub.token, 16) != 0 || h.nranks < 1 || h.rank < 0 ||
        h.rank >= h.nranks || (ranks != 0 && h.nranks != ranks) || (ranks != 0 && fds[h.rank] >= 0)) {
      const bool ours = memcmp(h.token, hub.token, 16) == 0;
      std::vector<int> one{fd};
      reply_error(one, INVALID_USAGE, ours ? "rank " + std::to_string(h.rank) + " of " + std::to_string(h.nranks) +
                                                 " does not fit the ranks that joined (nranks " + std::to_string(ranks) +
                                                 ", or that rank joined twice)"
                                           : "not this unique id's token");
      close(fd);
      continue;
    }
    if (ranks == 0) {
      ranks = h.nranks;
      fds.assign(ranks, -1);
    }
    fds[h.rank] = fd;
    joined++;
  }
  close(hub.listener);
  for (int fd : fds) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int32_t ok = SUCCESS;
    write_all(fd, &ok, 4);
  }
  // Collectives, one at a time in sequence order: each rank's header and input, then the replies.
  std::vector<std::vector<char>> in(ranks);
  std::vector<char> out;
  for (uint64_t seq = 0;; ++seq) {
    std::vector<Header> h(ranks);
    int gone = -1;
    for (int r = 0; r < ranks && gone < 0; ++r) {
      // No time limit here: ranks may compute for long between collectives; a rank waiting for
      // a result has its own limit.
      if (!read_all(fds[r], &h[r], sizeof(Header), -1)) {
        gone = r;
        break;
      }
      in[r].resize(send_bytes(h[r], r, ranks));
      if (!read_all(fds[r], in[r].data(), in[r].size(), -1)) gone = r;
    }
    if (gone == 0) {
      // Rank 0 left between collectives: the others have left or will (a clean destroy), or are
      // told that a peer is gone.
      std::vector<int> rest(fds.begin() + 1, fds.end());
      reply_error(rest, REMOTE_ERROR, "rank 0 left the communicator (destroyed, aborted or exited) before collective " +
                                          std::to_string(seq));
      close_all(fds);
      return;
    }
    if (gone > 0) {
      std::vector<int> waiting(fds.begin(), fds.begin() + gone);
      reply_error(waiting, REMOTE_ERROR, "rank " + std::to_string(gone) + " left the communicator (destroyed, aborted, "
                                             "exited or a device fault) during collective " + std::to_string(seq));
      close_all(fds);
      return;
    }
    std::string mismatch;
    for (int r = 1; r < ranks && mismatch.empty(); ++r) {
      const Header& a = h[0];
      const Header& b = h[r];
      if (a.kind != b.kind || a.type != b.type || a.count != b.count || (a.kind != BROADCAST && a.kind != ALL_GATHER && a.op != b.op) ||
          (a.kind == BROADCAST && a.root != b.root)) {
        char text[300];
        snprintf(text, sizeof text, "ranks disagree on collective %llu: rank 0 issued %s(type %d, op %d, root %d, count %llu), "
                 "rank %d issued %s(type %d, op %d, root %d, count %llu)", (unsigned long long)seq, kind_name(a.kind),
                 a.type, a.op, a.root, (unsigned long long)a.count, r, kind_name(b.kind), b.type, b.op, b.root,
                 (unsigned long long)b.count);
        mismatch = text;
      }
    }
    if (!mismatch.empty()) {
      reply_error(fds, INVALID_USAGE, mismatch);
      close_all(fds);
      return;
    }
    const Header& c = h[0];
    const size_t e = type_size(c.type);
    out.resize(reply_bytes(c, ranks));
    if (c.kind == ALL_REDUCE) reduce_typed(c.type, out.data(), in, 0, c.count, c.op);
    if (c.kind == BROADCAST) memcpy(out.data(), in[c.root].data(), out.size());
    if (c.kind == ALL_GATHER) {
      for (int r = 0; r < ranks; ++r) memcpy(out.data() + r * c.count * e, in[r].data(), c.count * e);
    }
    for (int r = 0; r < ranks; ++r) {
      int32_t ok = SUCCESS;
      bool sent = write_all(fds[r], &ok, 4);
      if (c.kind == REDUCE_SCATTER) {
        reduce_typed(c.type, out.data(), in, r * c.count, c.count, c.op);  // rank r's slice
      }
      sent = sent && write_all(fds[r], out.data(), out.size());
      (void)sent;  // a rank that left is found at the next collective's read
    }
    hub.state->delivered = seq + 1;
  }
}

// ---- communicators ---------------------------------------------------------------------------

struct Comm {
  int rank = 0, nranks = 0, device = 0;
  int fd = -1;
  std::mutex m;
  std::condition_variable cv;
  uint64_t issued = 0;   // collectives enqueued
  uint64_t finished = 0; // collectives run (in issue order, whatever stream each is on)
  int asyncError = SUCCESS;
  std::string asyncText;
  bool joined = false;
  HubState* hub = nullptr;  // the hub, when it runs in this process
};

std::mutex g_comms;
std::set<Comm*> g_live;

bool live(Comm* c) {
  std::lock_guard<std::mutex> lock(g_comms);
  return g_live.count(c) != 0;
}

void set_async(Comm* c, int status, const std::string& why) {
  std::lock_guard<std::mutex> lock(c->m);
  if (c->asyncError == SUCCESS) {
    c->asyncError = status;
    c->asyncText = why;
  }
}

thread_local int t_group = 0;
thread_local std::vector<Comm*> t_pendingJoins;

// Waits for the hub's word that every rank joined.
int finish_join(Comm* c) {
  int32_t status;
  if (!read_all(c->fd, &status, 4)) return failed(SYSTEM_ERROR, "no answer from the communicator's hub (rank 0's process)");
  if (status != SUCCESS) {
    char text[200];
    read_all(c->fd, text, sizeof text);
    text[199] = 0;
    return failed(status, text);
  }
  c->joined = true;
  return SUCCESS;
}

int start_join(Comm* c, const Id& id) {
  if (memcmp(id.magic, MAGIC, 8) != 0) return failed(INVALID_ARGUMENT, "commId is not a unique id from this NCCL's ncclGetUniqueId");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return failed(SYSTEM_ERROR, "socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(id.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) != 0) {
    close(fd);
    return failed(SYSTEM_ERROR, "cannot connect to the communicator's hub at 127.0.0.1:" + std::to_string(id.port) +
                                    " (rank 0's process gone, or the id is stale)");
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Hello h;
  memcpy(h.token, id.token, 16);
  h.rank = c->rank;
  h.nranks = c->nranks;
  c->fd = fd;
  c->hub = local_hub(id.token);
  if (!write_all(fd, &h, sizeof h)) return failed(SYSTEM_ERROR, "cannot send to the communicator's hub");
  return SUCCESS;
}

void discard(Comm* c) {
  if (c->fd >= 0) close(c->fd);
  delete c;
}

// Runs one collective on the stream's worker: waits its turn on the communicator, sends the
// input, writes the result. Device faults (a buffer outside the comm device's memory) are sticky.
void run_collective(Comm* c, Header h, const void* send, void* recv) {
  {
    std::unique_lock<std::mutex> lock(c->m);
    c->cv.wait(lock, [&] { return c->finished == h.seq; });
  }
  auto done = [&] {
    std::lock_guard<std::mutex> lock(c->m);
    c->finished++;
    c->cv.notify_all();
  };
  int failedAlready;
  {
    std::lock_guard<std::mutex> lock(c->m);
    failedAlready = c->asyncError;
  }
  if (failedAlready != SUCCESS) return done();
  const size_t in = send_bytes(h, c->rank, c->nranks);
  const size_t out = reply_bytes(h, c->nranks);
  std::string problem = in > 0 ? pkemu::check_device_range(send, in) : "";
  if (problem.empty()) problem = pkemu::check_device_range(recv, out);
  if (!problem.empty()) {
    pkemu::fail(pkemu::ILLEGAL_ADDRESS, std::string(kind_name(h.kind)) + " on rank " + std::to_string(c->rank) + ": " + problem);
    shutdown(c->fd, SHUT_RDWR);  // the peers learn that this rank is gone instead of waiting
    set_async(c, UNHANDLED_CUDA_ERROR, "device fault: " + problem);
    return done();
  }
  int32_t status = SYSTEM_ERROR;
  if (!write_all(c->fd, &h, sizeof h) || !write_all(c->fd, send, in) || !read_all(c->fd, &status, 4)) {
    set_async(c, SYSTEM_ERROR, std::string(kind_name(h.kind)) + " on rank " + std::to_string(c->rank) +
                                   ": lost the hub, or no answer within PKEMU_NCCL_TIMEOUT_S (another rank did not "
                                   "issue collective " + std::to_string(h.seq) + ")");
    return done();
  }
  if (status != SUCCESS) {
    char text[200];
    if (!read_all(c->fd, text, sizeof text)) snprintf(text, sizeof text, "the hub failed");
    text[199] = 0;
    set_async(c, status, text);
    return done();
  }
  std::vector<char> result(out);
  if (!read_all(c->fd, result.data(), out)) {
    set_async(c, SYSTEM_ERROR, "lost the hub while reading the result of collective " + std::to_string(h.seq));
    return done();
  }
  memcpy(recv, result.data(), out);  // written only when the whole result arrived
  done();
}

int enqueue(Comm* c, int kind, const void* send, void* recv, size_t count, int type, int op, int root, void* stream) {
  if (c == nullptr || !live(c)) return failed(INVALID_ARGUMENT, "comm is null or destroyed");
  if (type < 0 || type >= TYPES) return failed(INVALID_ARGUMENT, "datatype " + std::to_string(type) + " is not an ncclDataType_t");
  const bool reduces = kind == ALL_REDUCE || kind == REDUCE_SCATTER;
  if (reduces && (op < 0 || op >= OPS)) return failed(INVALID_ARGUMENT, "op " + std::to_string(op) + " is not an ncclRedOp_t");
  if (reduces && (type == FLOAT16 || type == BFLOAT16)) {
    return failed(INVALID_ARGUMENT, "the stand-in NCCL does not reduce float16/bfloat16");
  }
  if (kind == BROADCAST && (root < 0 || root >= c->nranks)) {
    return failed(INVALID_ARGUMENT, "root " + std::to_string(root) + " is not a rank of " + std::to_string(c->nranks));
  }
  {
    std::lock_guard<std::mutex> lock(c->m);
    if (c->asyncError != SUCCESS) return failed(c->asyncError, c->asyncText);
  }
  const int device = pkemu::stream_device(stream);
  if (device < 0) return failed(UNHANDLED_CUDA_ERROR, "stream is not a stream (cudaErrorInvalidResourceHandle)");
  if (device != c->device) {
    return failed(INVALID_ARGUMENT, "stream is on device " + std::to_string(device) + " but the communicator on device " +
                                        std::to_string(c->device));
  }
  if (count == 0) return SUCCESS;
  if ((send == nullptr && (kind != BROADCAST || c->rank == root)) || recv == nullptr) {
    return failed(INVALID_ARGUMENT, "sendbuff or recvbuff is null");
  }
  Header h{};
  h.kind = kind;
  h.type = type;
  h.op = reduces ? op : 0;
  h.root = kind == BROADCAST ? root : 0;
  h.count = count;
  std::lock_guard<std::mutex> lock(c->m);  // sequence numbers in issue order
  h.seq = c->issued;
  if (int e = pkemu::enqueue(stream, [c, h, send, recv] { run_collective(c, h, send, recv); })) {
    return failed(UNHANDLED_CUDA_ERROR, "the device failed (CUresult " + std::to_string(e) + ")");
  }
  c->issued++;
  return SUCCESS;
}

// Waits until every collective issued on c has run (they hold c's socket and c itself). After a
// device fault the streams run nothing more: the collectives left are dropped with the device.
void drain(Comm* c) {
  std::unique_lock<std::mutex> lock(c->m);
  while (c->finished != c->issued && pkemu::device_fault() == 0) c->cv.wait_for(lock, std::chrono::milliseconds(100));
}

int release(Comm* c, bool abort) {
  {
    std::lock_guard<std::mutex> lock(g_comms);
    if (c == nullptr || !g_live.erase(c)) return failed(INVALID_ARGUMENT, "comm is null or destroyed");
  }
  if (abort && c->fd >= 0) shutdown(c->fd, SHUT_RDWR);  // pending collectives fail instead of waiting for peers
  drain(c);
  // The hub answers rank by rank: keep this process (the hub's) alive until the others have the
  // results this rank already has. They are reading them, so this wait is short.
  if (c->hub != nullptr && !abort) {
    const uint64_t finished = c->finished;
    for (int waited = 0; c->hub->delivered < finished && !c->hub->done && waited < timeout_ms(); ++waited) usleep(1000);
  }
  discard(c);
  return SUCCESS;
}

}  // namespace

extern "C" {

typedef Comm* ncclComm_t;

int ncclGetVersion(int* version) {
  if (version == nullptr) return failed(INVALID_ARGUMENT, "version is null");
  *version = VERSION;
  return SUCCESS;
}

const char* ncclGetErrorString(int result) {
  switch (result) {
    case SUCCESS: return "no error";
    case UNHANDLED_CUDA_ERROR: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case SYSTEM_ERROR: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case INTERNAL_ERROR: return "internal error - please report this issue to the NCCL developers";
    case INVALID_ARGUMENT: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case INVALID_USAGE: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case REMOTE_ERROR: return "remote process exited or there was a network error";
    case 7: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

// The calling thread's last error in words, or the communicator's async error (NCCL >= 2.13).
const char* ncclGetLastError(ncclComm_t comm) {
  if (comm != nullptr && live(comm)) {
    std::lock_guard<std::mutex> lock(comm->m);
    if (comm->asyncError != SUCCESS) return comm->asyncText.c_str();  // set once, never changed
  }
  return t_lastError.c_str();
}

int ncclGetUniqueId(Id* id) {
  if (id == nullptr) return failed(INVALID_ARGUMENT, "uniqueId is null");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (sockaddr*)&a, sizeof a) != 0 || listen(fd, 64) != 0 || getsockname(fd, (sockaddr*)&a, &len) != 0) {
    if (fd >= 0) close(fd);
    return failed(SYSTEM_ERROR, "cannot listen on a localhost port for the communicator's hub");
  }
  Hub hub;
  hub.listener = fd;
  std::random_device rd;
  for (auto& b : hub.token) b = (uint8_t)rd();
  hub.state = new HubState;
  memcpy(hub.state->token, hub.token, 16);
  {
    std::lock_guard<std::mutex> lock(g_hubs);
    g_hubStates.push_back(hub.state);
  }
  memset(id, 0, sizeof(Id));
  memcpy(id->magic, MAGIC, 8);
  id->port = ntohs(a.sin_port);
  memcpy(id->token, hub.token, 16);
  std::thread(hub_main, hub).detach();
  return SUCCESS;
}

// The device is the calling thread's current one (cudaGetDevice), device 0 when none is current.
int ncclCommInitRank(ncclComm_t* comm, int nranks, Id id, int rank) {
  if (comm == nullptr) return failed(INVALID_ARGUMENT, "comm is null");
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    return failed(INVALID_ARGUMENT, "rank " + std::to_string(rank) + " of nranks " + std::to_string(nranks) + " is out of range");
  }
  const int device = pkemu::current_device();
  Comm* c = new Comm;
  c->rank = rank;
  c->nranks = nranks;
  c->device = device < 0 ? 0 : device;
  if (int e = start_join(c, id)) {
    discard(c);
    return e;
  }
  if (t_group > 0) {
    t_pendingJoins.push_back(c);  // ncclGroupEnd waits for the other ranks
  } else if (int e = finish_join(c)) {
    discard(c);
    return e;
  }
  {
    std::lock_guard<std::mutex> lock(g_comms);
    g_live.insert(c);
  }
  *comm = c;
  return SUCCESS;
}

int ncclCommInitAll(ncclComm_t* comms, int ndev, const int* devlist) {
  if (comms == nullptr || ndev < 1) return failed(INVALID_ARGUMENT, "comms is null or ndev < 1");
  for (int i = 0; i < ndev; ++i) {
    const int d = devlist ? devlist[i] : i;
    if (d < 0 || d >= pkemu::device_count()) {
      return failed(INVALID_ARGUMENT, "device " + std::to_string(d) + " does not exist (" +
                                          std::to_string(pkemu::device_count()) + " devices)");
    }
  }
  Id id;
  if (int e = ncclGetUniqueId(&id)) return e;
  std::vector<Comm*> made;
  int e = SUCCESS;
  for (int i = 0; i < ndev && e == SUCCESS; ++i) {
    Comm* c = new Comm;
    c->rank = i;
    c->nranks = ndev;
    c->device = devlist ? devlist[i] : i;
    made.push_back(c);
    e = start_join(c, id);
  }
  for (Comm* c : made) {
    if (e == SUCCESS) e = finish_join(c);
  }
  if (e != SUCCESS) {
    for (Comm* c : made) discard(c);
    return e;
  }
  std::lock_guard<std::mutex> lock(g_comms);
  for (int i = 0; i < ndev; ++i) {
    comms[i] = made[i];
    g_live.insert(made[i]);
  }
  return SUCCESS;
}

int ncclCommDestroy(ncclComm_t comm) { return release(comm, false); }

int ncclCommAbort(ncclComm_t comm) { return release(comm, true); }

int ncclCommCount(ncclComm_t comm, int* count) {
  if (comm == nullptr || !live(comm) || count == nullptr) return failed(INVALID_ARGUMENT, "comm or count is null");
  *count = comm->nranks;
  return SUCCESS;
}

int ncclCommCuDevice(ncclComm_t comm, int* device) {
  if (comm == nullptr || !live(comm) || device == nullptr) return failed(INVALID_ARGUMENT, "comm or device is null");
  *device = comm->device;
  return SUCCESS;
}

int ncclCommUserRank(ncclComm_t comm, int* rank) {
  if (comm == nullptr || !live(comm) || rank == nullptr) return failed(INVALID_ARGUMENT, "comm or rank is null");
  *rank = comm->rank;
  return SUCCESS;
}

int ncclCommGetAsyncError(ncclComm_t comm, int* asyncError) {
  if (comm == nullptr || !live(comm) || asyncError == nullptr) return failed(INVALID_ARGUMENT, "comm or asyncError is null");
  std::lock_guard<std::mutex> lock(comm->m);
  *asyncError = comm->asyncError;
  return SUCCESS;
}

int ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count, int datatype, int op, ncclComm_t comm, void* stream) {
  return enqueue(comm, ALL_REDUCE, sendbuff, recvbuff, count, datatype, op, 0, stream);
}

int ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count, int datatype, int root, ncclComm_t comm, void* stream) {
  return enqueue(comm, BROADCAST, sendbuff, recvbuff, count, datatype, 0, root, stream);
}

int ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, int datatype, ncclComm_t comm, void* stream) {
  return enqueue(comm, ALL_GATHER, sendbuff, recvbuff, sendcount, datatype, 0, 0, stream);
}

int ncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, int datatype, int op, ncclComm_t comm,
                      void* stream) {
  return enqueue(comm, REDUCE_SCATTER, sendbuff, recvbuff, recvcount, datatype, op, 0, stream);
}

// Collectives are enqueued at once (never blocking the host), so a group only defers the
// ncclCommInitRank joins of one thread that initialises several ranks.
int ncclGroupStart() {
  t_group++;
  return SUCCESS;
}

int ncclGroupEnd() {
  if (t_group == 0) return failed(INVALID_USAGE, "ncclGroupEnd without ncclGroupStart");
  if (--t_group > 0) return SUCCESS;
  int e = SUCCESS;
  std::vector<Comm*> joins;
  joins.swap(t_pendingJoins);
  for (Comm* c : joins) {
    if (e == SUCCESS) e = finish_join(c);
  }
  if (e != SUCCESS) {
    for (Comm* c : joins) {
      std::lock_guard<std::mutex> lock(g_comms);
      g_live.erase(c);
    }
    for (Comm* c : joins) discard(c);
  }
  return e;
}

}  // extern "C"
