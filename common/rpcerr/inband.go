package rpcerr

import (
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
)

// ToProto turns an error into the in-message Status that streaming
// responses carry (a failed batch must not end an Append stream, so its
// error travels in the response instead of as the stream's status). A nil
// error gives nil; an error that is not a gRPC status becomes codes.Unknown.
// Typed details are kept.
func ToProto(err error) *commonpb.Status {
	if err == nil {
		return nil
	}
	st, _ := grpcstatus.FromError(err)
	p := st.Proto()
	return &commonpb.Status{Code: p.GetCode(), Message: p.GetMessage(), Details: p.GetDetails()}
}

// FromProto is the inverse of ToProto: nil or an OK status gives nil,
// anything else a gRPC status error with the same code, message and typed
// details, so AsNotLeader, AsFenced and the other helpers work on it.
func FromProto(s *commonpb.Status) error {
	if s == nil || codes.Code(s.GetCode()) == codes.OK {
		return nil
	}
	return grpcstatus.FromProto(&status.Status{Code: s.GetCode(), Message: s.GetMessage(), Details: s.GetDetails()}).Err()
}
