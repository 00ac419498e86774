package fsm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// tb is the part of testing.TB that rapid.T also offers.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// testFSM is an FSM plus the index of the next entry to apply.
type testFSM struct {
	*FSM
	hub  *watch.Hub
	dir  string
	next uint64
}

func openTestFSM(t tb, dir string) *testFSM {
	t.Helper()
	hub := watch.NewHub(1024)
	f, err := Open(dir, hub, zerolog.Nop())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return &testFSM{FSM: f, hub: hub, dir: dir, next: f.AppliedIndex() + 1}
}

func newTestFSM(t *testing.T) *testFSM {
	t.Helper()
	f := openTestFSM(t, t.TempDir())
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return f
}

// entry wraps cmd as the next committed entry; ProposedAtMs derives from the
// index so that results are predictable.
func (f *testFSM) entry(cmd *placementpb.Command) raftnode.Committed {
	e := raftnode.Committed{Index: f.next, Term: 1, Cmd: cmd}
	if cmd != nil {
		cmd.ProposedAtMs = 1_000_000 + int64(f.next)
	}
	f.next++
	return e
}

// apply applies cmds as one batch and returns their outcomes.
func (f *testFSM) apply(t tb, cmds ...*placementpb.Command) []raftnode.Outcome {
	t.Helper()
	entries := make([]raftnode.Committed, len(cmds))
	for i, c := range cmds {
		entries[i] = f.entry(c)
	}
	out, err := f.Apply(entries)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(out) != len(cmds) {
		t.Fatalf("%d outcomes for %d entries", len(out), len(cmds))
	}
	return out
}

// mustApply applies one command and fails the test if it is rejected.
func (f *testFSM) mustApply(t tb, cmd *placementpb.Command) raftnode.Outcome {
	t.Helper()
	out := f.apply(t, cmd)[0]
	if out.Err != nil {
		t.Fatalf("entry %d (%v): %v", f.next-1, cmd.GetOp(), out.Err)
	}
	return out
}

// dumpState lists every key and value of the state database in key order.
func dumpState(t tb, f *FSM) []string {
	t.Helper()
	it, err := f.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatalf("iterate: %v", err)
	}
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, fmt.Sprintf("%q=%x", it.Key(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

// diffDumps returns "" when the dumps are equal, else a description of the
// first difference. ignore lists keys left out of the comparison.
func diffDumps(a, b []string, ignore ...string) string {
	filter := func(d []string) []string {
		var out []string
	next:
		for _, line := range d {
			for _, k := range ignore {
				if strings.HasPrefix(line, fmt.Sprintf("%q=", k)) {
					continue next
				}
			}
			out = append(out, line)
		}
		return out
	}
	a, b = filter(a), filter(b)
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d: %s != %s", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d lines != %d lines", len(a), len(b))
	}
	return ""
}

// ---- command builders ------------------------------------------------------

func regNode(id uint64, kind placementpb.NodeKind, addr string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_RegisterNode{RegisterNode: &placementpb.RegisterNodeCmd{
		Node: &placementpb.ClusterNode{NodeId: id, Kind: kind, GrpcAddr: addr},
	}}}
}

func regJournal(id uint64) *placementpb.Command {
	return regNode(id, placementpb.NodeKind_NODE_KIND_JOURNAL, fmt.Sprintf("127.0.0.1:%d", 17000+id))
}

func setStatus(id uint64, st placementpb.NodeStatus, incarnation uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_SetNodeStatus{SetNodeStatus: &placementpb.SetNodeStatusCmd{
		NodeId: id, Status: st, Incarnation: incarnation,
	}}}
}

// setStatusFrom is setStatus applied only from the given statuses.
func setStatusFrom(id uint64, st placementpb.NodeStatus, from ...placementpb.NodeStatus) *placementpb.Command {
	cmd := setStatus(id, st, 0)
	cmd.GetSetNodeStatus().From = from
	return cmd
}

func unregNode(id uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_UnregisterNode{UnregisterNode: &placementpb.UnregisterNodeCmd{NodeId: id}}}
}

func putKV(key, value string, expected *uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_PutKv{PutKv: &placementpb.PutKVCmd{
		Key: key, Value: []byte(value), ExpectedVersion: expected,
	}}}
}

func delKV(key string, expected *uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteKv{DeleteKv: &placementpb.DeleteKVCmd{
		Key: key, ExpectedVersion: expected,
	}}}
}

func ver(v uint64) *uint64 { return &v }

func createTenant(name string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_CreateTenant{CreateTenant: &placementpb.CreateTenantCmd{
		Tenant: &placementpb.Tenant{Name: name, Config: map[string]string{"quota": "1"}},
	}}}
}

func deleteTenant(name string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteTenant{DeleteTenant: &placementpb.DeleteTenantCmd{Name: name}}}
}

func createUser(tenant, name string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_CreateUser{CreateUser: &placementpb.CreateUserCmd{
		User: &placementpb.User{Tenant: tenant, Username: name, Salt: []byte("s"), PasswordHash: []byte("h")},
	}}}
}

func deleteUser(tenant, name string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteUser{DeleteUser: &placementpb.DeleteUserCmd{
		Tenant: tenant, Username: name,
	}}}
}

func createACL(tenant, principal string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_CreateAcl{CreateAcl: &placementpb.CreateAclCmd{
		Rule: &placementpb.AclRule{
			Tenant: tenant, Principal: principal, ResourceType: "topic", Resource: "a/#",
			Action: placementpb.AclAction_ACL_ACTION_PUBLISH, Permission: placementpb.AclPermission_ACL_PERMISSION_ALLOW,
		},
	}}}
}

func deleteACL(tenant string, id uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteAcl{DeleteAcl: &placementpb.DeleteAclCmd{Tenant: tenant, Id: id}}}
}

func placement(replicas []uint64, leader uint64, quorum uint32, epoch uint64) *placementpb.Segment {
	return &placementpb.Segment{Replicas: replicas, Leader: leader, AckQuorum: quorum, Epoch: epoch}
}

func createShard(tenant, name string, p *placementpb.Segment) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_CreateShard{CreateShard: &placementpb.CreateShardCmd{
		Shard:        &placementpb.Shard{Tenant: tenant, Name: name, ReplicaCount: 3, AckQuorum: 2},
		FirstSegment: p,
	}}}
}

func deleteShard(tenant, name string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteShard{DeleteShard: &placementpb.DeleteShardCmd{Tenant: tenant, Name: name}}}
}

func sealAndRoll(tenant, shard string, seq uint32, end, expected uint64, next *placementpb.Segment) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_SealAndRoll{SealAndRoll: &placementpb.SealAndRollCmd{
		Tenant: tenant, Shard: shard, Seq: seq, EndOffset: end, ExpectedVersion: expected, NextSegment: next,
	}}}
}
