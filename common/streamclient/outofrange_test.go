package streamclient

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
)

// A read below what retention left is a typed error: errors.Is
// ErrOffsetOutOfRange, *OffsetOutOfRangeError with the earliest offset, and
// a gRPC OutOfRange status naming it; reading from Earliest starts there.
func TestReaderBeforeRetentionIsOutOfRange(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	fc.TrimStart("s/0", 100)
	for _, from := range []uint64{0, 99} {
		r, err := c.NewReader("s", 0, ReaderOptions{Start: AtOffset(from)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Next(bg(t))
		var oe *OffsetOutOfRangeError
		if !errors.As(err, &oe) || oe.Earliest != 100 || oe.Offset != from || !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read from %d: %v", from, err)
		}
		if status.Code(err) != codes.OutOfRange || rpcerr.Code(err) != codes.OutOfRange {
			t.Fatalf("read from %d: code %v, want OutOfRange", from, status.Code(err))
		}
		if st, _ := status.FromError(err); !strings.Contains(st.Message(), "earliest offset 100") {
			t.Fatalf("status message %q does not name the earliest offset", st.Message())
		}
		_ = r.Close()
	}
	r, err := c.NewReader("s", 0, ReaderOptions{Start: Earliest()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(bg(t)); !errors.Is(err, ErrCaughtUp) || r.Position() != 100 {
		t.Fatalf("read from earliest: %v at %d", err, r.Position())
	}
}
