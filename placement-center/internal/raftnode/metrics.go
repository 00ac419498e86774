package raftnode

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Proposal results counted by robustmq_placement_raft_proposals_total.
const (
	resultApplied   = "applied"  // applied, the state machine accepted it
	resultRejected  = "rejected" // applied, the state machine returned an error
	resultNotLeader = "not_leader"
	resultTimeout   = "timeout"
	resultTooLarge  = "too_large"
	resultError     = "error"
)

// Snapshot operations counted by robustmq_placement_raft_snapshots_total.
const (
	snapshotCreated   = "created"
	snapshotInstalled = "installed"
	snapshotSent      = "sent"
)

type metrics struct {
	term          prometheus.Gauge
	leaderChanges prometheus.Counter
	proposals     *prometheus.CounterVec
	commitIndex   prometheus.Gauge
	appliedIndex  prometheus.Gauge
	snapshots     *prometheus.CounterVec
	isLeader      prometheus.Gauge
}

// newMetrics builds the node's collectors and registers them with reg when
// it is non-nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		term: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_placement_raft_term", Help: "Current Raft term of this member.",
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_placement_raft_leader_changes_total", Help: "Leader changes seen by this member.",
		}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_placement_raft_proposals_total", Help: "Proposals made on this member, by result.",
		}, []string{"result"}),
		commitIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_placement_raft_commit_index", Help: "Raft commit index known to this member.",
		}),
		appliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_placement_raft_applied_index", Help: "Index applied to the state machine.",
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_placement_raft_snapshots_total", Help: "Snapshots created, installed from the leader, or sent.",
		}, []string{"op"}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_placement_raft_is_leader", Help: "1 while this member is the Raft leader.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.term, m.leaderChanges, m.proposals, m.commitIndex, m.appliedIndex, m.snapshots, m.isLeader} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("raftnode: register metrics: %w", err)
		}
	}
	return m, nil
}
