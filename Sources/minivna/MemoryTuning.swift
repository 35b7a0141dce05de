#if canImport(Glibc)
import CMalloc
#endif

/// glibc serves every allocation above 128 KiB (adjusting upward only slowly) with its own
/// `mmap`, and returns it with `munmap` when freed. A rendered image or a decoded frame is a
/// few such buffers per request, so each request paid for zero-filled page faults and unmaps:
/// about a third of the server's CPU time on a 512x512 rendered JPEG. Serving buffers up to
/// 32 MiB from the heap, and keeping freed heap memory for the next request, removes that cost;
/// anything larger (a whole multi-frame instance) is still mapped and returned at once.
enum MemoryTuning {
    static func keepLargeBuffersInHeap() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 128 << 20)
        #endif
    }
}
