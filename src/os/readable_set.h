// ReadableSet: many descriptors watched for readability through one epoll
// instance of our own, which is itself one uv_poll handle on the loop.
//
// Why not one uv_poll per descriptor: a worker's two log pipes are made at
// every start and closed at every exit. A uv_poll handle costs five epoll_ctl
// calls and an ioctl over its life (libuv probes each descriptor with an
// add/delete pair before watching it) and a loop turn to free it; here a
// descriptor costs one epoll_ctl to add and one to remove, and nothing waits
// for a close callback (DESIGN.md §1: no per-event work beyond the event).
//
// Semantics: level-triggered. Hang-up and error count as readable (the
// listener's read() then sees end-of-file or the error). A listener may be
// told a descriptor is readable when it is not (read() gives EAGAIN): after a
// remove() and a re-add() of the same number within one batch, the old
// number's event reaches the new listener. No listener is called for a
// descriptor after remove() of it has returned, including from within another
// listener's callback of the same batch. Each turn of the loop hands out at
// most one batch (kBatch events), so busy descriptors cannot starve the loop.
// A listener must not destroy the set from its callback.
//
// The set's own uv_poll handle is active only while it watches a descriptor,
// so a loop with nothing else to do ends (uv_run returns) as with per-fd
// handles.
//
// Not thread-safe: it belongs to the thread that runs its loop.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace otpsup {

class ReadableSet {
 public:
  class Listener {
   public:
    virtual void on_readable(int fd) = 0;

   protected:
    ~Listener() = default;
  };

  // nullptr and *error when the epoll instance or its handle cannot be made.
  // REQUIRES: `loop` outlives the set and runs after the set is destroyed
  // (its handle's close callback frees it).
  static std::unique_ptr<ReadableSet> create(uv_loop_t* loop, std::string* error);

  struct PassKey {
   private:
    friend class ReadableSet;
    PassKey() = default;
  };
  ReadableSet(PassKey, uv_loop_t* loop);
  ReadableSet(const ReadableSet&) = delete;
  ReadableSet& operator=(const ReadableSet&) = delete;
  // Stops watching everything; the epoll descriptor is closed with the handle.
  ~ReadableSet();

  // Watches `fd` (which stays the caller's) for `listener`. False and *error
  // (errno text) when epoll refuses it. REQUIRES: fd not already in the set.
  bool add(int fd, Listener* listener, std::string* error);
  // Stops watching `fd`; call before closing it. No-op if it is not watched.
  void remove(int fd);
  // Descriptors watched now.
  std::size_t size() const { return watched_; }

 private:
  struct Handle;  // uv_poll_t + the epoll fd; freed in its close callback
  void on_ready();
  void activate(bool on);

  uv_loop_t* loop_;
  Handle* handle_ = nullptr;          // owned by libuv from uv_poll_init until its close callback
  std::vector<Listener*> listeners_;  // by descriptor number
  std::size_t watched_ = 0;
  bool active_ = false;
};

}  // namespace otpsup
