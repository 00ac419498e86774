package rpcerr

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestInBandStatusRoundTrip(t *testing.T) {
	if ToProto(nil) != nil || FromProto(nil) != nil {
		t.Fatal("nil must map to nil both ways")
	}
	p := ToProto(Fenced(7))
	if codes.Code(p.GetCode()) != Code(Fenced(7)) || p.GetMessage() == "" {
		t.Fatalf("code %d", p.GetCode())
	}
	back := FromProto(p)
	f, ok := AsFenced(back)
	if !ok || f.GetEpoch() != 7 {
		t.Fatalf("fenced detail lost: %v %v", f, back)
	}
	if Code(back) != Code(Fenced(7)) {
		t.Fatalf("code changed: %v", Code(back))
	}
	nl := FromProto(ToProto(NotLeader(3, "127.0.0.1:2778")))
	if d, ok := AsNotLeader(nl); !ok || d.GetLeaderId() != 3 || d.GetLeaderAddr() != "127.0.0.1:2778" {
		t.Fatalf("not leader detail lost: %v", nl)
	}
	plain := ToProto(errors.New("boom"))
	if codes.Code(plain.GetCode()) != codes.Unknown || plain.GetMessage() != "boom" {
		t.Fatalf("plain error: %v", plain)
	}
}
