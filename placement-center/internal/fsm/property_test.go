package fsm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// The alphabets are small on purpose, so that generated commands collide:
// creates of existing objects, deletes of missing ones, stale versions.
var (
	propTenants = []string{DefaultTenant, "t1", "t2"}
	propNames   = []string{"a", "b", "a/b"}
	propKeys    = []string{"x", "y", "x/1"}
)

func drawPlacement(rt *rapid.T) *placementpb.Segment {
	replicas := rapid.SliceOfNDistinct(rapid.Uint64Range(1, 4), 1, 3, rapid.ID).Draw(rt, "replicas")
	leader := rapid.SampledFrom(replicas).Draw(rt, "leader")
	if rapid.IntRange(0, 9).Draw(rt, "bad leader") == 0 {
		leader = 5
	}
	quorum := rapid.Uint32Range(1, uint32(len(replicas))).Draw(rt, "quorum")
	return placement(replicas, leader, quorum, rapid.Uint64Range(1, 3).Draw(rt, "epoch"))
}

// drawVersion returns an expected version that is right (the current one)
// most of the time and otherwise absent, zero or arbitrary.
func drawVersion(rt *rapid.T, current uint64) *uint64 {
	switch rapid.IntRange(0, 4).Draw(rt, "version kind") {
	case 0:
		return nil
	case 1:
		return ver(0)
	case 2:
		return ver(rapid.Uint64Range(1, 60).Draw(rt, "version"))
	default:
		return ver(current)
	}
}

// drawCommand draws one command; it looks at the reference FSM so that
// versions and sequence numbers are often the ones that apply. nil is an
// entry without a command.
func drawCommand(rt *rapid.T, ref *testFSM) *placementpb.Command {
	tenant := rapid.SampledFrom(propTenants).Draw(rt, "tenant")
	name := rapid.SampledFrom(propNames).Draw(rt, "name")
	key := rapid.SampledFrom(propKeys).Draw(rt, "key")
	nodeID := rapid.Uint64Range(0, 4).Draw(rt, "node")
	// Usually aim node and shard commands at objects that exist, so that
	// deaths, recoveries and rolls happen often.
	if nodes, _ := ref.ListNodes(placementpb.NodeKind_NODE_KIND_UNSPECIFIED); len(nodes) > 0 && rapid.IntRange(0, 3).Draw(rt, "existing node") > 0 {
		nodeID = rapid.SampledFrom(nodes).Draw(rt, "node pick").GetNodeId()
	}
	shards, _ := ref.ListShards("", "")
	useShard := len(shards) > 0 && rapid.IntRange(0, 3).Draw(rt, "existing shard") > 0
	if useShard {
		s := rapid.SampledFrom(shards).Draw(rt, "shard pick")
		tenant, name = s.GetTenant(), s.GetName()
	}
	switch rapid.IntRange(0, 21).Draw(rt, "op") {
	case 0:
		return nil
	case 1:
		kind := journal
		if rapid.IntRange(0, 3).Draw(rt, "broker") == 0 {
			kind = broker
		}
		return regNode(nodeID, kind, rapid.SampledFrom([]string{"h:1", "h:2"}).Draw(rt, "addr"))
	case 2:
		st := rapid.SampledFrom([]placementpb.NodeStatus{alive, dead, dead, placementpb.NodeStatus_NODE_STATUS_DRAINING}).Draw(rt, "status")
		inc := uint64(0)
		if n, err := ref.GetNode(nodeID); err == nil && rapid.Bool().Draw(rt, "use incarnation") {
			inc = n.GetIncarnation()
		} else if rapid.Bool().Draw(rt, "any incarnation") {
			inc = rapid.Uint64Range(1, 3).Draw(rt, "incarnation")
		}
		return setStatus(nodeID, st, inc)
	case 3:
		return unregNode(nodeID)
	case 4, 5:
		kv, _ := ref.GetKV(key)
		return putKV(key, rapid.StringN(0, 3, 3).Draw(rt, "value"), drawVersion(rt, kv.GetVersion()))
	case 6:
		kv, _ := ref.GetKV(key)
		return delKV(key, drawVersion(rt, kv.GetVersion()))
	case 7:
		return createTenant(tenant)
	case 8:
		return deleteTenant(tenant)
	case 9:
		return createUser(tenant, name)
	case 10:
		return deleteUser(tenant, name)
	case 11:
		return createACL(tenant, name)
	case 12:
		return deleteACL(tenant, rapid.Uint64Range(1, 4).Draw(rt, "acl id"))
	case 13, 14:
		if !useShard && rapid.Bool().Draw(rt, "default tenant") {
			tenant = DefaultTenant
		}
		return createShard(tenant, name, drawPlacement(rt))
	case 15:
		return deleteShard(tenant, name)
	case 20, 21:
		var current uint64
		upTo := rapid.Uint32Range(0, 3).Draw(rt, "up to seq")
		if shard, err := ref.GetShard(tenant, name); err == nil {
			current = shard.GetVersion()
			if rapid.Bool().Draw(rt, "up to active") {
				upTo = shard.GetActiveSegment()
			}
		}
		return deleteSegments(tenant, name, upTo, drawVersion(rt, current))
	default:
		seq := rapid.Uint32Range(0, 2).Draw(rt, "seq")
		var start, version uint64
		if shard, err := ref.GetShard(tenant, name); err == nil && rapid.IntRange(0, 3).Draw(rt, "active") > 0 {
			seq = shard.GetActiveSegment()
		}
		if seg, err := ref.GetSegment(tenant, name, seq); err == nil {
			start, version = seg.GetStartOffset(), seg.GetVersion()
		}
		if rapid.IntRange(0, 4).Draw(rt, "stale") == 0 {
			version = rapid.Uint64Range(0, 60).Draw(rt, "segment version")
		}
		end := start + rapid.Uint64Range(0, 10).Draw(rt, "length")
		if rapid.IntRange(0, 9).Draw(rt, "below start") == 0 && start > 0 {
			end = start - 1
		}
		return sealAndRoll(tenant, name, seq, end, version, drawPlacement(rt))
	}
}

func sameOutcome(a, b raftnode.Outcome) error {
	if status.Code(a.Err) != status.Code(b.Err) || fmt.Sprint(a.Err) != fmt.Sprint(b.Err) {
		return fmt.Errorf("errors differ: %v / %v", a.Err, b.Err)
	}
	if (a.Value == nil) != (b.Value == nil) || (a.Value != nil && !proto.Equal(a.Value, b.Value)) {
		return fmt.Errorf("values differ: %v / %v", a.Value, b.Value)
	}
	return nil
}

// applyInBatches applies cmds splitting them into random batches, so that
// effects within one Apply call are read back like effects across calls.
func applyInBatches(rt *rapid.T, f *testFSM, cmds []*placementpb.Command, label string) []raftnode.Outcome {
	var out []raftnode.Outcome
	for len(cmds) > 0 {
		n := rapid.IntRange(1, min(4, len(cmds))).Draw(rt, label)
		out = append(out, f.apply(rt, cmds[:n]...)...)
		cmds = cmds[n:]
	}
	return out
}

// TestSnapshotRestoreMatchesFullReplay: for random command sequences, a
// member that applies everything (A), one restored from a snapshot taken
// after k entries and then applying the rest (C), and one closed and
// reopened after k entries (D) end in byte-identical state, and A and C
// agree on every outcome after k.
func TestSnapshotRestoreMatchesFullReplay(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp(root, "case")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		open := func(name string) *testFSM { return openTestFSM(rt, filepath.Join(dir, name)) }

		a := open("a")
		defer a.Close()
		n := rapid.IntRange(1, 40).Draw(rt, "commands")
		var cmds []*placementpb.Command
		var outA []raftnode.Outcome
		for len(cmds) < n {
			batch := make([]*placementpb.Command, rapid.IntRange(1, min(4, n-len(cmds))).Draw(rt, "batch"))
			for i := range batch {
				// Commands of one batch are drawn before any of them
				// applies, as proposals are.
				batch[i] = drawCommand(rt, a)
			}
			cmds = append(cmds, batch...)
			outA = append(outA, a.apply(rt, batch...)...)
		}
		k := rapid.IntRange(0, n).Draw(rt, "k")

		b := open("b")
		defer b.Close()
		applyInBatches(rt, b, cmds[:k], "b batch")
		data, index, err := b.Snapshot()
		if err != nil || index != uint64(k) {
			rt.Fatalf("snapshot: index %d (want %d), %v", index, k, err)
		}

		c := open("c")
		defer c.Close()
		if err := c.Restore(data, index); err != nil {
			rt.Fatalf("restore: %v", err)
		}
		c.next = index + 1
		outC := applyInBatches(rt, c, cmds[k:], "c batch")
		for i := range outC {
			if err := sameOutcome(outA[k+i], outC[i]); err != nil {
				rt.Fatalf("entry %d: %v", k+i+1, err)
			}
		}
		want := dumpState(rt, a.FSM)
		if d := diffDumps(want, dumpState(rt, c.FSM)); d != "" {
			rt.Fatalf("restored member differs: %s", d)
		}

		d := open("d")
		applyInBatches(rt, d, cmds[:k], "d batch")
		if err := d.Close(); err != nil {
			rt.Fatal(err)
		}
		d = open("d")
		defer d.Close()
		if d.AppliedIndex() != uint64(k) {
			rt.Fatalf("reopened at %d, want %d", d.AppliedIndex(), k)
		}
		outD := applyInBatches(rt, d, cmds[k:], "d2 batch")
		for i := range outD {
			if err := sameOutcome(outA[k+i], outD[i]); err != nil {
				rt.Fatalf("reopened, entry %d: %v", k+i+1, err)
			}
		}
		if diff := diffDumps(want, dumpState(rt, d.FSM)); diff != "" {
			rt.Fatalf("reopened member differs: %s", diff)
		}
	})
}
