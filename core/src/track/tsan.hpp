// tsan.hpp - tells ThreadSanitizer about the ordering mimalloc provides.
#pragma once

namespace nm::track {

// mimalloc is not built with TSan, so TSan cannot see that a free on one thread happens before
// the same address is handed out again on another. Tell it, through the block address.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
inline void *tsan_allocated(void *b) noexcept { if (b) __tsan_acquire(b); return b; }
inline void tsan_freeing(void *b) noexcept { __tsan_release(b); }
#else
inline void *tsan_allocated(void *b) noexcept { return b; }
inline void tsan_freeing(void *) noexcept {}
#endif

} // namespace nm::track
