package walprealloc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestPreallocateExtendsOnlyLogs checks what the wrapper changes: a WAL
// file's preallocation grows its size, any other file's does not.
func TestPreallocateExtendsOnlyLogs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("extending preallocation is Linux only")
	}
	fs := New(nil)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		want int64
	}{{"000007.log", 1 << 20}, {"000008.sst", 0}, {"MANIFEST-000001", 0}} {
		f, err := fs.Create(filepath.Join(dir, tc.name), vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Preallocate(0, 1<<20); err != nil {
			t.Fatalf("%s: Preallocate: %v", tc.name, err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != tc.want {
			t.Errorf("%s: size %d after Preallocate(0, 1 MiB), want %d", tc.name, st.Size(), tc.want)
		}
		_ = f.Close()
	}
}

// TestCrashImageRecovers copies a live database's directory (its last WAL
// ending in preallocated zeros, nothing closed: what a crash leaves) and
// opens the copy: every synced write must be there and the open must not
// report corruption. It does this across WAL rotations, so older logs
// (closed with their EOF trailer, then zeros) are replayed too.
func TestCrashImageRecovers(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{FS: New(nil), MemTableSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 3000
	val := make([]byte, 300)
	for i := range n {
		if err := db.Set([]byte(fmt.Sprintf("k%06d", i)), val, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	grown := false
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".log" && info.Size() >= 256<<10 {
			grown = true
		}
	}
	if runtime.GOOS == "linux" && !grown {
		t.Fatal("no WAL file was extended by its preallocation; the test would prove nothing")
	}

	img := t.TempDir()
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(img, e.Name()))
	}
	re, err := pebble.Open(img, &pebble.Options{FS: New(nil), MemTableSize: 256 << 10})
	if err != nil {
		t.Fatalf("opening the crash image: %v", err)
	}
	defer re.Close()
	for i := range n {
		_, closer, err := re.Get([]byte(fmt.Sprintf("k%06d", i)))
		if err != nil {
			t.Fatalf("synced key %d lost: %v", i, err)
		}
		_ = closer.Close()
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
