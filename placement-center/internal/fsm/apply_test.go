package fsm

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

const (
	journal  = placementpb.NodeKind_NODE_KIND_JOURNAL
	broker   = placementpb.NodeKind_NODE_KIND_BROKER
	alive    = placementpb.NodeStatus_NODE_STATUS_ALIVE
	dead     = placementpb.NodeStatus_NODE_STATUS_DEAD
	draining = placementpb.NodeStatus_NODE_STATUS_DRAINING
)

// commandCase applies setup (which must all succeed) and then cmd at index
// len(setup)+1, and checks cmd's outcome.
type commandCase struct {
	name     string
	setup    []*placementpb.Command
	cmd      *placementpb.Command
	wantCode codes.Code
	// check inspects the outcome; index is cmd's entry index.
	check func(t *testing.T, f *testFSM, index uint64, value proto.Message, err error)
}

func wantVersionMismatch(kind, name string, expected, current uint64) func(*testing.T, *testFSM, uint64, proto.Message, error) {
	return func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
		t.Helper()
		vm, ok := rpcerr.AsVersionMismatch(err)
		if !ok {
			t.Fatalf("no VersionMismatch detail in %v", err)
		}
		want := &commonpb.VersionMismatch{Kind: kind, Name: name, ExpectedVersion: expected, CurrentVersion: current}
		if !proto.Equal(vm, want) {
			t.Fatalf("detail %v, want %v", vm, want)
		}
	}
}

func wantNotFound(kind, name string) func(*testing.T, *testFSM, uint64, proto.Message, error) {
	return func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
		t.Helper()
		nf, ok := rpcerr.Detail[*commonpb.NotFound](err)
		if !ok || nf.GetKind() != kind || nf.GetName() != name {
			t.Fatalf("NotFound detail %v, want %s %q", nf, kind, name)
		}
	}
}

func wantAlreadyExists(kind, name string) func(*testing.T, *testFSM, uint64, proto.Message, error) {
	return func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
		t.Helper()
		ae, ok := rpcerr.Detail[*commonpb.AlreadyExists](err)
		if !ok || ae.GetKind() != kind || ae.GetName() != name {
			t.Fatalf("AlreadyExists detail %v, want %s %q", ae, kind, name)
		}
	}
}

func wantInvalidField(field string) func(*testing.T, *testFSM, uint64, proto.Message, error) {
	return func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
		t.Helper()
		ia, ok := rpcerr.Detail[*commonpb.InvalidArgument](err)
		if !ok || ia.GetField() != field {
			t.Fatalf("InvalidArgument detail %v, want field %q", ia, field)
		}
	}
}

func runCommandCases(t *testing.T, cases []commandCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFSM(t)
			for _, c := range tc.setup {
				f.mustApply(t, c)
			}
			before := dumpState(t, f.FSM)
			index := f.next
			out := f.apply(t, tc.cmd)[0]
			if got := status.Code(out.Err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, out.Err, tc.wantCode)
			}
			if f.AppliedIndex() != index {
				t.Fatalf("applied index %d, want %d", f.AppliedIndex(), index)
			}
			if out.Err != nil {
				if out.Value != nil {
					t.Fatalf("rejected command returned a value: %v", out.Value)
				}
				// A rejected command changes nothing but the applied index.
				if d := diffDumps(before, dumpState(t, f.FSM), keyAppliedIndex); d != "" {
					t.Fatalf("rejected command changed the state: %s", d)
				}
			}
			if tc.check != nil {
				tc.check(t, f, index, out.Value, out.Err)
			}
		})
	}
}

func TestNodeCommands(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name: "register assigns the first assigned id",
			cmd:  regNode(0, broker, "127.0.0.1:1229"),
			check: func(t *testing.T, f *testFSM, index uint64, v proto.Message, _ error) {
				n := v.(*placementpb.ClusterNode)
				want := &placementpb.ClusterNode{NodeId: FirstAssignedNodeID, Kind: broker, GrpcAddr: "127.0.0.1:1229", Incarnation: 1,
					Status: alive, RegisteredAtMs: 1_000_000 + int64(index), Version: index}
				if !proto.Equal(n, want) {
					t.Fatalf("node %v, want %v", n, want)
				}
				got, err := f.GetNode(FirstAssignedNodeID)
				if err != nil || !proto.Equal(got, want) {
					t.Fatalf("GetNode = %v, %v", got, err)
				}
			},
		},
		{
			// A broker registering first must not take the id a journal
			// node's config names (7 here): assigned ids stay above the
			// configured range, and follow each other.
			name:  "assigned ids stay above configured ones",
			setup: []*placementpb.Command{regNode(0, broker, "127.0.0.1:2"), regJournal(7)},
			cmd:   regNode(0, broker, "127.0.0.1:1"),
			check: func(t *testing.T, _ *testFSM, _ uint64, v proto.Message, _ error) {
				if id := v.(*placementpb.ClusterNode).GetNodeId(); id != FirstAssignedNodeID+1 {
					t.Fatalf("assigned id %d, want %d", id, FirstAssignedNodeID+1)
				}
			},
		},
		{
			name:  "assigned ids follow explicit ones above the configured range",
			setup: []*placementpb.Command{regJournal(FirstAssignedNodeID + 10)},
			cmd:   regNode(0, journal, "127.0.0.1:1"),
			check: func(t *testing.T, _ *testFSM, _ uint64, v proto.Message, _ error) {
				if id := v.(*placementpb.ClusterNode).GetNodeId(); id != FirstAssignedNodeID+11 {
					t.Fatalf("assigned id %d, want %d", id, FirstAssignedNodeID+11)
				}
			},
		},
		{
			name:  "re-register bumps incarnation and replaces addresses",
			setup: []*placementpb.Command{regJournal(3), setStatus(3, dead, 0)},
			cmd:   regNode(3, journal, "127.0.0.1:9999"),
			check: func(t *testing.T, _ *testFSM, _ uint64, v proto.Message, _ error) {
				n := v.(*placementpb.ClusterNode)
				if n.GetIncarnation() != 2 || n.GetGrpcAddr() != "127.0.0.1:9999" || n.GetStatus() != alive {
					t.Fatalf("node %v", n)
				}
			},
		},
		{name: "kind change", setup: []*placementpb.Command{regJournal(3)}, cmd: regNode(3, broker, "127.0.0.1:1"),
			wantCode: codes.InvalidArgument, check: wantInvalidField("node.kind")},
		{name: "no kind", cmd: regNode(0, placementpb.NodeKind_NODE_KIND_UNSPECIFIED, "127.0.0.1:1"),
			wantCode: codes.InvalidArgument, check: wantInvalidField("node.kind")},
		{name: "no address", cmd: regNode(0, broker, ""), wantCode: codes.InvalidArgument, check: wantInvalidField("node.grpc_addr")},
		{
			name:  "set status",
			setup: []*placementpb.Command{regJournal(1)},
			cmd:   setStatus(1, placementpb.NodeStatus_NODE_STATUS_DRAINING, 1),
			check: func(t *testing.T, f *testFSM, index uint64, _ proto.Message, _ error) {
				n, err := f.GetNode(1)
				if err != nil || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_DRAINING || n.GetVersion() != index {
					t.Fatalf("node %v, %v", n, err)
				}
			},
		},
		{name: "drain from an allowed status", setup: []*placementpb.Command{regJournal(1)},
			cmd: setStatusFrom(1, draining, alive, draining),
			check: func(t *testing.T, f *testFSM, _ uint64, v proto.Message, _ error) {
				if n, err := f.GetNode(1); err != nil || n.GetStatus() != draining || v.(*placementpb.ClusterNode).GetStatus() != draining {
					t.Fatalf("node %v, %v", n, err)
				}
			}},
		{name: "drain of a dead node", setup: []*placementpb.Command{regJournal(1), setStatus(1, dead, 0)},
			cmd: setStatusFrom(1, draining, alive, draining), wantCode: codes.FailedPrecondition,
			check: func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
				d, ok := rpcerr.Detail[*placementpb.NodeStatusMismatch](err)
				if !ok || d.GetNodeId() != 1 || d.GetStatus() != dead || !slices.Equal(d.GetAllowed(), []placementpb.NodeStatus{alive, draining}) {
					t.Fatalf("error %v, detail %v", err, d)
				}
			}},
		{name: "re-register keeps draining", setup: []*placementpb.Command{regJournal(1), setStatus(1, draining, 0)},
			cmd: regJournal(1),
			check: func(t *testing.T, _ *testFSM, _ uint64, v proto.Message, _ error) {
				if n := v.(*placementpb.ClusterNode); n.GetStatus() != draining || n.GetIncarnation() != 2 {
					t.Fatalf("node %v, want DRAINING at incarnation 2", n)
				}
			}},
		{name: "set status of missing node", cmd: setStatus(4, dead, 0), wantCode: codes.NotFound, check: wantNotFound("node", "4")},
		{name: "set status of old incarnation", setup: []*placementpb.Command{regJournal(1), regJournal(1)},
			cmd: setStatus(1, dead, 1), wantCode: codes.FailedPrecondition, check: wantVersionMismatch("node", "1", 1, 2)},
		{name: "set unspecified status", setup: []*placementpb.Command{regJournal(1)},
			cmd: setStatus(1, placementpb.NodeStatus_NODE_STATUS_UNSPECIFIED, 0), wantCode: codes.InvalidArgument},
		{
			name:  "unregister",
			setup: []*placementpb.Command{regJournal(1)},
			cmd:   unregNode(1),
			check: func(t *testing.T, f *testFSM, _ uint64, _ proto.Message, _ error) {
				if _, err := f.GetNode(1); status.Code(err) != codes.NotFound {
					t.Fatalf("GetNode after unregister: %v", err)
				}
			},
		},
		{name: "unregister missing", cmd: unregNode(1), wantCode: codes.NotFound, check: wantNotFound("node", "1")},
		{name: "no operation", cmd: &placementpb.Command{}, wantCode: codes.InvalidArgument},
	})
}

func TestKVCommands(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name: "create",
			cmd:  putKV("a", "1", nil),
			check: func(t *testing.T, f *testFSM, index uint64, v proto.Message, _ error) {
				want := &placementpb.KeyValue{Key: "a", Value: []byte("1"), Version: index, CreateVersion: index}
				if !proto.Equal(v, want) {
					t.Fatalf("kv %v, want %v", v, want)
				}
				if got, err := f.GetKV("a"); err != nil || !proto.Equal(got, want) {
					t.Fatalf("GetKV = %v, %v", got, err)
				}
			},
		},
		{
			name:  "update keeps create version",
			setup: []*placementpb.Command{putKV("a", "1", nil)},
			cmd:   putKV("a", "2", ver(1)),
			check: func(t *testing.T, _ *testFSM, index uint64, v proto.Message, _ error) {
				kv := v.(*placementpb.KeyValue)
				if kv.GetVersion() != index || kv.GetCreateVersion() != 1 || string(kv.GetValue()) != "2" {
					t.Fatalf("kv %v", kv)
				}
			},
		},
		{name: "create-only on existing key", setup: []*placementpb.Command{putKV("a", "1", nil)}, cmd: putKV("a", "2", ver(0)),
			wantCode: codes.FailedPrecondition, check: wantVersionMismatch("kv", "a", 0, 1)},
		{name: "expected version on missing key", cmd: putKV("a", "2", ver(5)),
			wantCode: codes.FailedPrecondition, check: wantVersionMismatch("kv", "a", 5, 0)},
		{name: "create-only on missing key", cmd: putKV("a", "2", ver(0))},
		{name: "empty key", cmd: putKV("", "2", nil), wantCode: codes.InvalidArgument, check: wantInvalidField("key")},
		{
			name:  "delete",
			setup: []*placementpb.Command{putKV("a", "1", nil)},
			cmd:   delKV("a", ver(1)),
			check: func(t *testing.T, f *testFSM, _ uint64, _ proto.Message, _ error) {
				if _, err := f.GetKV("a"); status.Code(err) != codes.NotFound {
					t.Fatalf("GetKV after delete: %v", err)
				}
			},
		},
		{name: "delete with stale version", setup: []*placementpb.Command{putKV("a", "1", nil), putKV("a", "2", nil)},
			cmd: delKV("a", ver(1)), wantCode: codes.FailedPrecondition, check: wantVersionMismatch("kv", "a", 1, 2)},
		{name: "delete missing", cmd: delKV("a", nil), wantCode: codes.NotFound, check: wantNotFound("kv", "a")},
		{name: "delete empty key", cmd: delKV("", nil), wantCode: codes.InvalidArgument},
	})
}

func TestTenantUserACLCommands(t *testing.T) {
	runCommandCases(t, []commandCase{
		{
			name: "create tenant",
			cmd:  createTenant("t1"),
			check: func(t *testing.T, f *testFSM, index uint64, _ proto.Message, _ error) {
				got, err := f.GetTenant("t1")
				want := &placementpb.Tenant{Name: "t1", CreatedAtMs: 1_000_000 + int64(index),
					Config: map[string]string{"quota": "1"}, Version: index}
				if err != nil || !proto.Equal(got, want) {
					t.Fatalf("GetTenant = %v, %v; want %v", got, err, want)
				}
			},
		},
		{name: "create existing tenant", setup: []*placementpb.Command{createTenant("t1")}, cmd: createTenant("t1"),
			wantCode: codes.AlreadyExists, check: wantAlreadyExists("tenant", "t1")},
		{name: "create default tenant", cmd: createTenant(DefaultTenant), wantCode: codes.AlreadyExists},
		{name: "create unnamed tenant", cmd: createTenant(""), wantCode: codes.InvalidArgument, check: wantInvalidField("tenant.name")},
		{name: "create tenant with slash", cmd: createTenant("a/b"), wantCode: codes.InvalidArgument},
		{name: "delete default tenant", cmd: deleteTenant(DefaultTenant), wantCode: codes.InvalidArgument},
		{name: "delete missing tenant", cmd: deleteTenant("t9"), wantCode: codes.NotFound, check: wantNotFound("tenant", "t9")},
		{name: "delete tenant with shards",
			setup:    []*placementpb.Command{createTenant("t1"), createShard("t1", "s", placement([]uint64{1}, 1, 1, 1))},
			cmd:      deleteTenant("t1"),
			wantCode: codes.FailedPrecondition},
		{
			name:  "delete tenant takes users and acls with it",
			setup: []*placementpb.Command{createTenant("t1"), createUser("t1", "u"), createACL("t1", "u")},
			cmd:   deleteTenant("t1"),
			check: func(t *testing.T, f *testFSM, _ uint64, _ proto.Message, _ error) {
				for _, key := range []string{"tenant/t1", "user/t1/u"} {
					if found, _ := getProto(f.db, []byte(key), &placementpb.User{}); found {
						t.Fatalf("%s survived", key)
					}
				}
				if found, _ := getProto(f.db, aclKey("t1", 1), &placementpb.AclRule{}); found {
					t.Fatal("acl survived")
				}
				if _, err := f.ListUsers("t1"); status.Code(err) != codes.NotFound {
					t.Fatalf("ListUsers of deleted tenant: %v", err)
				}
			},
		},
		{
			name:  "create user",
			setup: []*placementpb.Command{createTenant("t1")},
			cmd:   createUser("t1", "alice"),
			check: func(t *testing.T, f *testFSM, index uint64, _ proto.Message, _ error) {
				u, err := f.GetUser("t1", "alice")
				if err != nil || u.GetVersion() != index || string(u.GetPasswordHash()) != "h" {
					t.Fatalf("GetUser = %v, %v", u, err)
				}
			},
		},
		{name: "create user in missing tenant", cmd: createUser("t9", "alice"), wantCode: codes.NotFound, check: wantNotFound("tenant", "t9")},
		{name: "create existing user", setup: []*placementpb.Command{createUser(DefaultTenant, "alice")}, cmd: createUser(DefaultTenant, "alice"),
			wantCode: codes.AlreadyExists, check: wantAlreadyExists("user", "default/alice")},
		{name: "create user without name", cmd: createUser(DefaultTenant, ""), wantCode: codes.InvalidArgument},
		{name: "delete user", setup: []*placementpb.Command{createUser(DefaultTenant, "alice")}, cmd: deleteUser(DefaultTenant, "alice")},
		{name: "delete missing user", cmd: deleteUser(DefaultTenant, "bob"), wantCode: codes.NotFound, check: wantNotFound("user", "default/bob")},
		{name: "delete user through a slash in the tenant", setup: []*placementpb.Command{createUser(DefaultTenant, "x/y")},
			cmd: deleteUser("default/x", "y"), wantCode: codes.NotFound},
		{
			name:  "acl ids are never reused",
			setup: []*placementpb.Command{createACL(DefaultTenant, "a"), createACL(DefaultTenant, "b"), deleteACL(DefaultTenant, 2)},
			cmd:   createACL(DefaultTenant, "c"),
			check: func(t *testing.T, f *testFSM, index uint64, v proto.Message, _ error) {
				r := v.(*placementpb.AclRule)
				if r.GetId() != 3 || r.GetVersion() != index {
					t.Fatalf("rule %v, want id 3", r)
				}
				rules, err := f.ListAcls(DefaultTenant)
				if err != nil || len(rules) != 2 || rules[0].GetId() != 1 || rules[1].GetId() != 3 {
					t.Fatalf("ListAcls = %v, %v", rules, err)
				}
			},
		},
		{
			name:  "acl ids survive tenant re-creation",
			setup: []*placementpb.Command{createTenant("t1"), createACL("t1", "a"), deleteTenant("t1"), createTenant("t1")},
			cmd:   createACL("t1", "a"),
			check: func(t *testing.T, _ *testFSM, _ uint64, v proto.Message, _ error) {
				if id := v.(*placementpb.AclRule).GetId(); id != 2 {
					t.Fatalf("id %d, want 2", id)
				}
			},
		},
		{name: "acl in missing tenant", cmd: createACL("t9", "a"), wantCode: codes.NotFound, check: wantNotFound("tenant", "t9")},
		{name: "acl without principal", cmd: createACL(DefaultTenant, ""), wantCode: codes.InvalidArgument},
		{name: "delete missing acl", cmd: deleteACL(DefaultTenant, 1), wantCode: codes.NotFound, check: wantNotFound("acl", "default/1")},
	})
}

func TestShardCommands(t *testing.T) {
	p := placement([]uint64{1, 2, 3}, 2, 2, 1)
	shardSetup := []*placementpb.Command{createShard(DefaultTenant, "s", p)} // index 1
	runCommandCases(t, []commandCase{
		{
			name: "create shard",
			cmd:  createShard(DefaultTenant, "s", p),
			check: func(t *testing.T, f *testFSM, index uint64, v proto.Message, _ error) {
				at := 1_000_000 + int64(index)
				resp := v.(*placementpb.CreateShardResponse)
				wantShard := &placementpb.Shard{Tenant: DefaultTenant, Name: "s", ReplicaCount: 3, AckQuorum: 2,
					Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, CreatedAtMs: at, Version: index}
				wantSeg := &placementpb.Segment{Tenant: DefaultTenant, Shard: "s", Replicas: []uint64{1, 2, 3}, Leader: 2,
					Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: 2, Version: index, CreatedAtMs: at}
				if !proto.Equal(resp.GetShard(), wantShard) || !proto.Equal(resp.GetSegment(), wantSeg) {
					t.Fatalf("response %v", resp)
				}
				shard, segs, err := f.GetShardWithSegments(DefaultTenant, "s")
				if err != nil || !proto.Equal(shard, wantShard) || len(segs) != 1 || !proto.Equal(segs[0], wantSeg) {
					t.Fatalf("GetShardWithSegments = %v, %v, %v", shard, segs, err)
				}
			},
		},
		{name: "create existing shard", setup: shardSetup, cmd: createShard(DefaultTenant, "s", p),
			wantCode: codes.AlreadyExists, check: wantAlreadyExists("shard", "default/s")},
		{name: "create shard in missing tenant", cmd: createShard("t9", "s", p), wantCode: codes.NotFound, check: wantNotFound("tenant", "t9")},
		{name: "no replicas", cmd: createShard(DefaultTenant, "s", placement(nil, 1, 1, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.replicas")},
		{name: "duplicate replicas", cmd: createShard(DefaultTenant, "s", placement([]uint64{1, 1}, 1, 1, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.replicas")},
		{name: "leader not a replica", cmd: createShard(DefaultTenant, "s", placement([]uint64{1, 2}, 3, 1, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.leader")},
		{name: "ack quorum 0", cmd: createShard(DefaultTenant, "s", placement([]uint64{1, 2}, 1, 0, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.ack_quorum")},
		{name: "ack quorum above replicas", cmd: createShard(DefaultTenant, "s", placement([]uint64{1, 2}, 1, 3, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.ack_quorum")},
		{name: "epoch 0", cmd: createShard(DefaultTenant, "s", placement([]uint64{1, 2}, 1, 1, 0)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("first_segment.epoch")},
		{
			name:  "delete shard removes its segments only",
			setup: []*placementpb.Command{shardSetup[0], sealAndRoll(DefaultTenant, "s", 0, 10, 1, p), createShard(DefaultTenant, "s/x", p)},
			cmd:   deleteShard(DefaultTenant, "s"),
			check: func(t *testing.T, f *testFSM, _ uint64, _ proto.Message, _ error) {
				if _, err := f.GetShard(DefaultTenant, "s"); status.Code(err) != codes.NotFound {
					t.Fatalf("GetShard after delete: %v", err)
				}
				for seq := range uint32(2) {
					if _, err := f.GetSegment(DefaultTenant, "s", seq); status.Code(err) != codes.NotFound {
						t.Fatalf("segment %d after delete: %v", seq, err)
					}
				}
				if segs, err := f.ListSegments(DefaultTenant, "s/x"); err != nil || len(segs) != 1 {
					t.Fatalf("segments of s/x = %v, %v", segs, err)
				}
			},
		},
		{name: "delete missing shard", cmd: deleteShard(DefaultTenant, "s"), wantCode: codes.NotFound, check: wantNotFound("shard", "default/s")},
		{
			name:  "seal and roll",
			setup: shardSetup,
			cmd:   sealAndRoll(DefaultTenant, "s", 0, 100, 1, placement([]uint64{3, 4, 5}, 4, 2, 2)),
			check: func(t *testing.T, f *testFSM, index uint64, v proto.Message, _ error) {
				resp := v.(*placementpb.SealAndRollResponse)
				sealed, next := resp.GetSealed(), resp.GetNext()
				if sealed.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || sealed.GetEndOffset() != 100 ||
					sealed.GetVersion() != index || sealed.GetLeader() != 2 {
					t.Fatalf("sealed %v", sealed)
				}
				wantNext := &placementpb.Segment{Tenant: DefaultTenant, Shard: "s", Seq: 1, Replicas: []uint64{3, 4, 5}, Leader: 4,
					Epoch: 2, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, StartOffset: 100, AckQuorum: 2,
					Version: index, CreatedAtMs: 1_000_000 + int64(index)}
				if !proto.Equal(next, wantNext) {
					t.Fatalf("next %v, want %v", next, wantNext)
				}
				shard, segs, err := f.GetShardWithSegments(DefaultTenant, "s")
				if err != nil || shard.GetActiveSegment() != 1 || shard.GetVersion() != index || len(segs) != 2 ||
					!proto.Equal(segs[0], sealed) || !proto.Equal(segs[1], wantNext) {
					t.Fatalf("state after roll: %v %v %v", shard, segs, err)
				}
			},
		},
		{name: "seal missing segment", setup: shardSetup, cmd: sealAndRoll(DefaultTenant, "s", 1, 100, 1, p),
			wantCode: codes.NotFound, check: wantNotFound("segment", "default/s/1")},
		{
			name:     "seal sealed segment",
			setup:    []*placementpb.Command{shardSetup[0], sealAndRoll(DefaultTenant, "s", 0, 100, 1, p)},
			cmd:      sealAndRoll(DefaultTenant, "s", 0, 100, 2, p),
			wantCode: codes.FailedPrecondition,
			check: func(t *testing.T, _ *testFSM, _ uint64, _ proto.Message, err error) {
				ss, ok := rpcerr.AsSegmentSealed(err)
				if !ok || ss.GetEndOffset() != 100 {
					t.Fatalf("SegmentSealed detail %v in %v", ss, err)
				}
			},
		},
		{name: "seal with stale version", setup: shardSetup, cmd: sealAndRoll(DefaultTenant, "s", 0, 100, 7, p),
			wantCode: codes.FailedPrecondition, check: wantVersionMismatch("segment", "default/s/0", 7, 1)},
		{name: "seal below start", setup: []*placementpb.Command{shardSetup[0], sealAndRoll(DefaultTenant, "s", 0, 100, 1, p)},
			cmd: sealAndRoll(DefaultTenant, "s", 1, 99, 2, p), wantCode: codes.InvalidArgument, check: wantInvalidField("end_offset")},
		{name: "roll onto a bad placement", setup: shardSetup, cmd: sealAndRoll(DefaultTenant, "s", 0, 100, 1, placement([]uint64{1}, 2, 1, 1)),
			wantCode: codes.InvalidArgument, check: wantInvalidField("next_segment.leader")},
		{name: "roll without next segment", setup: shardSetup, cmd: sealAndRoll(DefaultTenant, "s", 0, 100, 1, nil),
			wantCode: codes.InvalidArgument},
	})
}
