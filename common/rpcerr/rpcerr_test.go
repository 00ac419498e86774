package rpcerr

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestNotLeaderRoundTrip(t *testing.T) {
	err := fmt.Errorf("propose: %w", NotLeader(3, "127.0.0.1:3228"))
	nl, ok := AsNotLeader(err)
	if !ok {
		t.Fatalf("AsNotLeader(%v) found no detail", err)
	}
	if nl.GetLeaderId() != 3 || nl.GetLeaderAddr() != "127.0.0.1:3228" {
		t.Fatalf("detail = %v", nl)
	}
	if got := Code(NotLeader(0, "")); got != codes.Unavailable {
		t.Fatalf("code = %v, want Unavailable", got)
	}
}

func TestKinds(t *testing.T) {
	cases := []struct {
		err  error
		code codes.Code
	}{
		{NotFound("kv", "a"), codes.NotFound},
		{AlreadyExists("tenant", "t"), codes.AlreadyExists},
		{VersionMismatch("kv", "a", 1, 2), codes.FailedPrecondition},
		{InvalidArgument("name", "empty"), codes.InvalidArgument},
		{ResourceExhausted("request size", 10, 11), codes.ResourceExhausted},
		{Fenced(4), codes.FailedPrecondition},
		{SegmentSealed(100), codes.FailedPrecondition},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.code {
			t.Errorf("%v: code %v, want %v", c.err, got, c.code)
		}
	}
	if vm, ok := AsVersionMismatch(VersionMismatch("kv", "a", 1, 2)); !ok || vm.GetCurrentVersion() != 2 {
		t.Fatalf("AsVersionMismatch = %v, %v", vm, ok)
	}
	if _, ok := AsNotLeader(NotFound("kv", "a")); ok {
		t.Fatal("NotFound carried a NotLeader detail")
	}
	if _, ok := AsNotLeader(nil); ok {
		t.Fatal("nil carried a detail")
	}
}
