package lac

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQuorumOfThree(t *testing.T) {
	tr := New([]uint64{1, 2, 3}, 2, 100)
	steps := []struct {
		replica, end, want uint64
	}{
		{1, 110, 100}, // leader alone is not a quorum
		{2, 105, 105}, // second-highest end
		{3, 120, 110},
		{2, 104, 110}, // ends never move back
		{9, 500, 110}, // unknown replica ignored
		{2, 130, 120},
	}
	for i, s := range steps {
		if got := tr.Update(s.replica, s.end); got != s.want {
			t.Fatalf("step %d: LAC %d, want %d", i, got, s.want)
		}
	}
}

func TestSingleReplica(t *testing.T) {
	tr := New([]uint64{7}, 1, 0)
	if got := tr.Update(7, 3); got != 3 {
		t.Fatalf("LAC %d, want 3", got)
	}
}

func TestWaitFor(t *testing.T) {
	tr := New([]uint64{1, 2, 3}, 2, 0)
	done := make(chan uint64, 1)
	go func() {
		lac, err := tr.WaitFor(context.Background(), 10)
		if err != nil {
			t.Error(err)
		}
		done <- lac
	}()
	tr.Update(1, 10)
	select {
	case <-done:
		t.Fatal("returned before a quorum had offset 10")
	case <-time.After(50 * time.Millisecond):
	}
	tr.Update(3, 12)
	select {
	case lac := <-done:
		if lac != 10 {
			t.Fatalf("lac %d, want 10", lac)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return after quorum")
	}

	fenced := errors.New("fenced")
	go tr.Fail(fenced)
	if _, err := tr.WaitFor(context.Background(), 1000); !errors.Is(err, fenced) {
		t.Fatalf("err %v, want fenced", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	tr2 := New([]uint64{1}, 1, 0)
	if _, err := tr2.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline", err)
	}
}
