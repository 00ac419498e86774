//go:build !linux

package walprealloc

import "errors"

// allocate is not available here; Preallocate falls back to the wrapped
// file's.
func allocate(fd uintptr, offset, length int64) error {
	return errors.New("walprealloc: extending preallocation needs Linux")
}
