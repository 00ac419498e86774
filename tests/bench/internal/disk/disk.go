package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Options is one measurement.
type Options struct {
	Dir        string // the file is created (and removed) here
	BatchBytes int    // bytes written before each fdatasync
	Duration   time.Duration
	MaxOps     int   // count bound on the loop
	MaxBytes   int64 // size bound on the file: it starts over past this
}

// Result is what the loop achieved.
type Result struct {
	Ops      int // write+fdatasync rounds
	Bytes    int64
	Elapsed  time.Duration
	OpsPerS  float64
	BytesPS  float64
	Syncs    []time.Duration // one per round (write + fdatasync), sorted
	FileName string
}

// Run appends opts.BatchBytes and fdatasyncs, until the duration or count
// is used up. The file is removed afterwards.
func Run(ctx context.Context, o Options) (Result, error) {
	switch {
	case o.BatchBytes <= 0:
		return Result{}, fmt.Errorf("disk: batch bytes %d", o.BatchBytes)
	case o.Duration <= 0 || o.MaxOps <= 0:
		return Result{}, fmt.Errorf("disk: duration %v, max ops %d", o.Duration, o.MaxOps)
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	name := filepath.Join(o.Dir, fmt.Sprintf("disk-limit-%d.dat", o.BatchBytes))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Result{}, fmt.Errorf("disk: %w", err)
	}
	defer os.Remove(name)
	defer f.Close()
	buf := make([]byte, o.BatchBytes)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	res := Result{FileName: name, Syncs: make([]time.Duration, 0, min(o.MaxOps, 1<<20))}
	var size int64
	start := time.Now()
	deadline := start.Add(o.Duration)
	for res.Ops < o.MaxOps && time.Now().Before(deadline) && ctx.Err() == nil {
		if size+int64(o.BatchBytes) > o.MaxBytes {
			// Start over (outside nothing: the truncate is part of the
			// loop's cost, as a log's segment switch would be).
			if err := f.Truncate(0); err != nil {
				return res, fmt.Errorf("disk: truncate: %w", err)
			}
			size = 0
		}
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return res, fmt.Errorf("disk: write: %w", err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return res, fmt.Errorf("disk: fdatasync: %w", err)
		}
		res.Syncs = append(res.Syncs, time.Since(t0))
		res.Ops++
		size += int64(o.BatchBytes)
		res.Bytes += int64(o.BatchBytes)
	}
	res.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Elapsed > 0 {
		res.OpsPerS = float64(res.Ops) / res.Elapsed.Seconds()
		res.BytesPS = float64(res.Bytes) / res.Elapsed.Seconds()
	}
	slices.Sort(res.Syncs)
	return res, nil
}
