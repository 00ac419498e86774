package walprealloc

import (
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// New wraps base (vfs.Default when nil) so that write-ahead log files are
// preallocated with their size extended.
func New(base vfs.FS) vfs.FS {
	if base == nil {
		base = vfs.Default
	}
	return walFS{FS: base}
}

type walFS struct {
	vfs.FS
}

// isWAL reports whether name is a Pebble write-ahead log (NNNNNN.log).
func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return walFile{File: f}, nil
}

func (fs walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	if err != nil || !isWAL(newname) {
		return f, err
	}
	return walFile{File: f}, nil
}

// walFile is a write-ahead log file whose Preallocate extends its size.
type walFile struct {
	vfs.File
}

// Preallocate allocates [offset, offset+length) and extends the file's
// size over it; where that is not possible (no file descriptor, another
// operating system, a file system without fallocate) it does what the
// wrapped file does.
func (f walFile) Preallocate(offset, length int64) error {
	if fd := f.Fd(); fd != vfs.InvalidFd && allocate(fd, offset, length) == nil {
		return nil
	}
	return f.File.Preallocate(offset, length)
}
