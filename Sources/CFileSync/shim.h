#ifndef MINIVNA_CFILESYNC_SHIM_H
#define MINIVNA_CFILESYNC_SHIM_H
#include <sys/ioctl.h>
#include <linux/fs.h>
// syncfs(2) (glibc >= 2.14, Linux): declared by <unistd.h> only under _GNU_SOURCE, so the Glibc
// module does not export it. The archive uses it as one durability barrier for a batch of files.
int syncfs(int fd);

// The inode flags of an open file (FS_IOC_GETFLAGS; ioctl is variadic, which Swift does not
// import): 1 when the file is immutable or append-only (chattr +i / +a), 0 when not, -1 when the
// file system cannot say. The index's write gate asks before every write transaction.
static inline int minivna_refuses_writes(int fd) {
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return -1;
    return (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0 ? 1 : 0;
}
#endif
