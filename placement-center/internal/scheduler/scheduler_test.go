package scheduler

import (
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func journal(id uint64, st placementpb.NodeStatus) *placementpb.ClusterNode {
	return &placementpb.ClusterNode{NodeId: id, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, Status: st}
}

const alive = placementpb.NodeStatus_NODE_STATUS_ALIVE

func TestPlace(t *testing.T) {
	broker := &placementpb.ClusterNode{NodeId: 9, Kind: placementpb.NodeKind_NODE_KIND_BROKER, Status: alive}
	four := []*placementpb.ClusterNode{journal(1, alive), journal(2, alive), journal(3, alive), journal(4, alive), broker,
		journal(5, placementpb.NodeStatus_NODE_STATUS_DEAD)}
	cases := []struct {
		name       string
		nodes      []*placementpb.ClusterNode
		load       Load
		replicas   uint32
		quorum     uint32
		exclude    map[uint64]bool
		want       []uint64
		leader     uint64
		wantQuorum uint32
		warnings   int
	}{
		{name: "defaults on an idle cluster", nodes: four, want: []uint64{1, 2, 3}, leader: 1, wantQuorum: 2},
		{name: "least loaded first", nodes: four,
			load: Load{Replicas: map[uint64]int{1: 5, 2: 1, 3: 0, 4: 2}, Leads: map[uint64]int{}},
			want: []uint64{3, 2, 4}, leader: 3, wantQuorum: 2},
		{name: "leader is the replica leading least", nodes: four,
			load: Load{Replicas: map[uint64]int{}, Leads: map[uint64]int{1: 3, 2: 0, 3: 1}},
			want: []uint64{1, 2, 3}, leader: 2, wantQuorum: 2},
		{name: "draining node skipped", nodes: []*placementpb.ClusterNode{journal(1, placementpb.NodeStatus_NODE_STATUS_DRAINING),
			journal(2, alive), journal(3, alive), journal(4, alive)},
			load: Load{Replicas: map[uint64]int{2: 1, 3: 1, 4: 1}, Leads: map[uint64]int{}},
			want: []uint64{2, 3, 4}, leader: 2, wantQuorum: 2},
		{name: "excluded node skipped", nodes: four, exclude: map[uint64]bool{1: true},
			want: []uint64{2, 3, 4}, leader: 2, wantQuorum: 2},
		{name: "clamped to one node", nodes: []*placementpb.ClusterNode{journal(7, alive)},
			want: []uint64{7}, leader: 7, wantQuorum: 1, warnings: 1},
		{name: "quorum above replicas clamped", nodes: four, replicas: 2, quorum: 3,
			want: []uint64{1, 2}, leader: 1, wantQuorum: 2, warnings: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.load.Replicas == nil {
				c.load = Load{Replicas: map[uint64]int{}, Leads: map[uint64]int{}}
			}
			p, err := Place(c.nodes, c.load, c.replicas, c.quorum, c.exclude)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Replicas, c.want) || p.Leader != c.leader || p.AckQuorum != c.wantQuorum || len(p.Warnings) != c.warnings {
				t.Fatalf("got %+v, want replicas %v leader %d quorum %d warnings %d", p, c.want, c.leader, c.wantQuorum, c.warnings)
			}
		})
	}
}

func TestPlaceWithoutJournals(t *testing.T) {
	_, err := Place([]*placementpb.ClusterNode{journal(1, placementpb.NodeStatus_NODE_STATUS_DEAD),
		journal(2, placementpb.NodeStatus_NODE_STATUS_DRAINING)}, NewLoad(nil), 3, 2, nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("err = %v, want FailedPrecondition", err)
	}
}

func TestNewLoadIgnoresSealed(t *testing.T) {
	l := NewLoad([]*placementpb.Segment{
		{Replicas: []uint64{1, 2}, Leader: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN},
		{Replicas: []uint64{1, 3}, Leader: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED},
	})
	if l.Replicas[1] != 1 || l.Replicas[3] != 0 || l.Leads[1] != 1 || l.Leads[3] != 0 {
		t.Fatalf("load = %+v", l)
	}
}

func TestReplace(t *testing.T) {
	stored := map[uint64]int{1: 5, 2: 1, 3: 1, 4: 0}
	cases := []struct {
		name    string
		live    []uint64
		holders []uint64
		want    uint64
		ok      bool
	}{
		{"least stored", []uint64{1, 2, 3, 4}, []uint64{1, 2}, 4, true},
		{"holders skipped", []uint64{1, 2, 3, 4}, []uint64{4, 1}, 2, true},
		{"tie by id", []uint64{3, 2, 1}, []uint64{1}, 2, true},
		{"no spare", []uint64{1, 2}, []uint64{1, 2, 3}, 0, false},
		{"no live", nil, []uint64{1}, 0, false},
	}
	for _, c := range cases {
		got, ok := Replace(c.live, stored, c.holders)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
