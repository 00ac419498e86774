package disk

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestRunSyncsAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Dir: dir, BatchBytes: 4096, Duration: 200 * time.Millisecond, MaxOps: 50, MaxBytes: 3 * 4096})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Ops > 50 || res.Bytes != int64(res.Ops)*4096 || len(res.Syncs) != res.Ops {
		t.Fatalf("ops %d, bytes %d, syncs %d", res.Ops, res.Bytes, len(res.Syncs))
	}
	if res.OpsPerS <= 0 || res.BytesPS <= 0 {
		t.Fatalf("rates %v %v", res.OpsPerS, res.BytesPS)
	}
	for i := 1; i < len(res.Syncs); i++ {
		if res.Syncs[i] < res.Syncs[i-1] {
			t.Fatal("syncs not sorted")
		}
	}
	if _, err := os.Stat(res.FileName); !os.IsNotExist(err) {
		t.Fatalf("file left behind: %v", err)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Dir: t.TempDir()}, {Dir: t.TempDir(), BatchBytes: 1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
