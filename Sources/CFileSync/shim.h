#ifndef MINIVNA_CFILESYNC_SHIM_H
#define MINIVNA_CFILESYNC_SHIM_H
// syncfs(2) (glibc >= 2.14, Linux): declared by <unistd.h> only under _GNU_SOURCE, so the Glibc
// module does not export it. The archive uses it as one durability barrier for a batch of files.
int syncfs(int fd);
#endif
