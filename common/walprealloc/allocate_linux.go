package walprealloc

import "golang.org/x/sys/unix"

// allocate is fallocate(2) with mode 0: the range is allocated and the
// file's size grows to cover it.
func allocate(fd uintptr, offset, length int64) error {
	return unix.Fallocate(int(fd), 0, offset, length)
}
