// Package leaderclient is the shared client of a Raft-replicated gRPC
// service (the placement center). A *Client implements
// grpc.ClientConnInterface, so generated clients such as
// placementpb.NewPlacementServiceClient work on it unchanged, and it hides
// which member currently leads: it follows NotLeader hints, caches the
// leader, sweeps the configured addresses when a member is down and backs
// off between sweeps.
//
// It owns one lazily created *grpc.ClientConn per address it has talked
// to. It must never retry an error the server gave as an answer
// (NotFound, FailedPrecondition, InvalidArgument, ...), never retry a
// stream once it has started, and never outlive the caller's deadline.
package leaderclient
