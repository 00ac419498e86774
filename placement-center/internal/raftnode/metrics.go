package raftnode

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
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
	// dropped counts proposals raft refused when the Ready loop stepped
	// them in (leadership lost or transferring, uncommitted-size limit);
	// their callers got NotLeader and proposals_total{result="not_leader"}.
	dropped prometheus.Counter
	reg     prometheus.Registerer
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
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_placement_raft_proposals_dropped_total",
			Help: "Queued proposals raft refused when they were stepped in (leadership lost or in transfer, uncommitted-size limit).",
		}),
		reg: reg,
	}
	// Results and operations are closed sets: their series start at zero.
	for _, r := range []string{resultApplied, resultRejected, resultNotLeader, resultTimeout, resultTooLarge, resultError} {
		m.proposals.WithLabelValues(r)
	}
	for _, op := range []string{snapshotCreated, snapshotInstalled, snapshotSent} {
		m.snapshots.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.term, m.leaderChanges, m.proposals, m.commitIndex, m.appliedIndex, m.snapshots, m.isLeader, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("raftnode: register metrics: %w", err)
		}
	}
	return m, nil
}

// registerNode adds the collectors that read the node at scrape time: the
// apply lag and, on the leader, each follower's replication lag.
func (m *metrics) registerNode(n *Node) error {
	if m.reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "robustmq_placement_raft_apply_lag_entries",
			Help: "Committed entries this member has not applied yet (commit index minus applied index).",
		}, func() float64 {
			c, a := n.commitIndex.Load(), n.applied.get()
			return float64(c - min(c, a))
		}),
		&followerLagCollector{n: n},
	} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("raftnode: register metrics: %w", err)
		}
	}
	return nil
}

var followerLagDesc = prometheus.NewDesc("robustmq_placement_raft_follower_lag_entries",
	"On the leader: entries of its log a member has not acknowledged (leader's last index minus the member's match index), by member id.",
	[]string{"member"}, nil)

// followerLagCollector reports the leader's view of each member's
// replication progress; a follower reports nothing.
type followerLagCollector struct{ n *Node }

func (c *followerLagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- followerLagDesc }

func (c *followerLagCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	n.mu.Lock()
	if n.stopped || n.rn.BasicStatus().RaftState != raft.StateLeader {
		n.mu.Unlock()
		return
	}
	match := map[uint64]uint64{}
	n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) { match[id] = pr.Match })
	n.mu.Unlock()
	last := match[n.cfg.ID]
	for id, m := range match {
		if id == n.cfg.ID {
			continue
		}
		ch <- prometheus.MustNewConstMetric(followerLagDesc, prometheus.GaugeValue, float64(last-min(last, m)), strconv.FormatUint(id, 10))
	}
}
