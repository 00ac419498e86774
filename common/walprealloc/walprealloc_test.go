package walprealloc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

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

// BenchmarkWALFdatasync is the measurement behind the package comment:
// 400-byte writes, each followed by an fdatasync, to a file preallocated
// the way Pebble does by default (size kept) and the way this package does
// (size extended), by one writer or by three writers on files of their
// own at once. It reports the writers' median and 99th percentile.
//
//	go test -run '^$' -bench WALFdatasync -benchtime 2000x ./walprealloc
func BenchmarkWALFdatasync(b *testing.B) {
	for _, fsys := range []struct {
		name string
		fs   vfs.FS
	}{{"size-kept", vfs.Default}, {"size-extended", New(nil)}} {
		for _, writers := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s/writers=%d", fsys.name, writers), func(b *testing.B) {
				benchFdatasync(b, fsys.fs, writers)
			})
		}
	}
}

func benchFdatasync(b *testing.B, fs vfs.FS, writers int) {
	dir := b.TempDir()
	rec := make([]byte, 400)
	files := make([]vfs.File, writers)
	for i := range files {
		f, err := fs.Create(filepath.Join(dir, fmt.Sprintf("%06d.log", i)), vfs.WriteCategoryUnspecified)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := f.Preallocate(0, int64(b.N*len(rec))+1<<20); err != nil {
			b.Fatal(err)
		}
		files[i] = f
	}
	lat := make([][]time.Duration, writers)
	errs := make(chan error, writers)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range b.N {
				start := time.Now()
				if _, err := f.Write(rec); err != nil {
					errs <- err
					return
				}
				if err := f.SyncData(); err != nil {
					errs <- err
					return
				}
				lat[i] = append(lat[i], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
