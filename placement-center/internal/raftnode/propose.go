package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// errConfChangeRefused: raft refuses a membership change while another is
// still being applied.
var errConfChangeRefused = status.Error(codes.Unavailable, "another membership change is in progress; retry")

// Proposal ids carry the proposing member's id in their top 16 bits, so a
// waiter is never resolved by an entry another member proposed.
const proposalSeqBits = 48

func (n *Node) nextProposalID() uint64 {
	seq := n.proposalSeq.Add(1) & (1<<proposalSeqBits - 1)
	if seq == 0 {
		seq = n.proposalSeq.Add(1) & (1<<proposalSeqBits - 1)
	}
	return n.cfg.ID<<proposalSeqBits | seq
}

func (n *Node) ownsProposal(id uint64) bool {
	return id>>proposalSeqBits == n.cfg.ID
}

// withDefaultTimeout bounds ctx by DefaultRequestTimeout if it has no
// deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultRequestTimeout)
}

// notLeaderErr is the NotLeader error naming the leader this member knows.
func (n *Node) notLeaderErr() error {
	lead, addr := n.LeaderAddr()
	return rpcerr.NotLeader(lead, addr)
}

// Propose replicates cmd and returns the state machine's Outcome for it
// once this member applied it: Outcome.Value, or Outcome.Err as the error.
// It stamps cmd's copy with a proposal id and the leader's clock
// (ProposedAtMs). Errors: rpcerr.NotLeader on a follower, when raft drops
// the proposal or when leadership is lost before the entry committed;
// rpcerr.ResourceExhausted for a command over MaxProposalBytes;
// context.DeadlineExceeded when it is not applied in time (DefaultRequestTimeout
// if ctx has no deadline) - the command may still be applied later.
//
// The command is not stepped into raft here: it joins the proposal queue,
// which the Ready loop drains into one raft proposal (MsgProp) carrying
// every queued entry, so concurrent proposals share one append, one MsgApp
// per follower and one synced write (see flushProposals).
func (n *Node) Propose(ctx context.Context, cmd *placementpb.Command) (proto.Message, error) {
	if cmd == nil {
		return nil, rpcerr.InvalidArgument("command", "nil")
	}
	if !n.IsLeader() {
		n.metrics.proposals.WithLabelValues(resultNotLeader).Inc()
		return nil, n.notLeaderErr()
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	id := n.nextProposalID()
	data, err := marshalProposal(cmd, id, time.Now().UnixMilli())
	if err != nil {
		return nil, rpcerr.InvalidArgument("command", err.Error())
	}
	if len(data) > n.cfg.MaxProposalBytes {
		n.metrics.proposals.WithLabelValues(resultTooLarge).Inc()
		return nil, rpcerr.ResourceExhausted("proposal bytes", uint64(n.cfg.MaxProposalBytes), uint64(len(data)))
	}
	res, err := n.proposeQueued(ctx, id, data)
	switch {
	case err == nil && res.err == nil:
		n.metrics.proposals.WithLabelValues(resultApplied).Inc()
		return res.value, nil
	case err == nil && res.notApplied:
		n.metrics.proposals.WithLabelValues(resultNotLeader).Inc()
		return nil, res.err
	case err == nil:
		n.metrics.proposals.WithLabelValues(resultRejected).Inc()
		return nil, res.err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		n.metrics.proposals.WithLabelValues(resultTimeout).Inc()
	case rpcerr.Code(err) == codes.Unavailable:
		n.metrics.proposals.WithLabelValues(resultNotLeader).Inc()
	default:
		n.metrics.proposals.WithLabelValues(resultError).Inc()
	}
	return nil, err
}

// marshalProposal returns cmd marshalled with ProposalId id and
// ProposedAtMs atMs, leaving cmd unchanged. When cmd has neither field set
// (what the API hands in) the two fields are written first and cmd is
// marshalled after them, which decodes to the same Command without
// cloning it; proposalIDOf reads the first field, which is then id.
func marshalProposal(cmd *placementpb.Command, id uint64, atMs int64) ([]byte, error) {
	if cmd.GetProposalId() != 0 || cmd.GetProposedAtMs() != 0 {
		c := proto.Clone(cmd).(*placementpb.Command)
		c.ProposalId, c.ProposedAtMs = id, atMs
		return proto.Marshal(c)
	}
	buf := make([]byte, 0, 2*(1+binary.MaxVarintLen64)+proto.Size(cmd))
	buf = protowire.AppendTag(buf, 1, protowire.VarintType)
	buf = protowire.AppendVarint(buf, id)
	buf = protowire.AppendTag(buf, 2, protowire.VarintType)
	buf = protowire.AppendVarint(buf, uint64(atMs))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, cmd)
}

// proposeQueued registers a waiter for id, queues data for the Ready loop
// and waits for the waiter. Every queued proposal is resolved exactly once
// by someone: flushProposals fails it if raft does not take it, the
// applier resolves it with its Outcome, onSoftState fails it if leadership
// is lost before it committed, and Run fails whatever is left when it stops
// (the queue is closed first, so nothing is queued after that). A caller
// whose ctx ends first removes its waiter and gets ctx's error; its entry
// may still be proposed and applied.
func (n *Node) proposeQueued(ctx context.Context, id uint64, data []byte) (proposalResult, error) {
	w := n.proposals.register(id)
	if !n.propq.push(queuedProposal{id: id, data: data}) {
		n.proposals.remove(id)
		return proposalResult{}, rpcerr.NotLeader(0, "")
	}
	n.signal()
	select {
	case res := <-w.ch:
		return res, nil
	case <-ctx.Done():
		n.proposals.remove(id)
		return proposalResult{}, ctx.Err()
	}
}

// maxProposalBatchBytes bounds the entries stepped into raft as one
// MsgProp: about one MsgApp's worth (raft caps each MsgApp at
// maxSizePerMsg anyway), and a batch that would exceed raft's
// uncommitted-size limit is dropped as a whole.
const maxProposalBatchBytes = maxSizePerMsg

// flushProposals steps every queued proposal into raft, in batches of up
// to maxProposalBatchBytes, each as one MsgProp with one entry per
// proposal (entries keep the one-command-per-entry format the applier and
// trackAppended read). Called by the Ready loop only, before it looks for a
// Ready, so proposals that arrived while the previous Ready was being
// persisted go out together. A batch raft refuses (not leader, leadership
// transfer, uncommitted-size limit) fails every waiter in it with NotLeader:
// a dropped proposal is an error, never silence.
func (n *Node) flushProposals() {
	queued := n.propq.take()
	for len(queued) > 0 {
		size, k := 0, 0
		for k < len(queued) && (k == 0 || size+len(queued[k].data) <= maxProposalBatchBytes) {
			size += len(queued[k].data)
			k++
		}
		batch := queued[:k]
		queued = queued[k:]
		ents := make([]*raftpb.Entry, len(batch))
		for i, p := range batch {
			ents[i] = &raftpb.Entry{Data: p.data}
		}
		n.mu.Lock()
		var err error
		switch {
		case n.stopped:
			err = rpcerr.NotLeader(0, "")
		case n.rn.BasicStatus().RaftState != raft.StateLeader:
			err = errNotLeaderHere
		default:
			err = n.rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(n.cfg.ID), Entries: ents})
		}
		n.mu.Unlock()
		if err == nil {
			continue
		}
		if errors.Is(err, errNotLeaderHere) || errors.Is(err, raft.ErrProposalDropped) {
			err = n.notLeaderErr()
		} else if rpcerr.Code(err) == codes.Unknown {
			err = fmt.Errorf("raftnode: propose: %w", err)
		}
		n.metrics.dropped.Add(float64(len(batch)))
		for _, p := range batch {
			n.proposals.resolve(p.id, proposalResult{err: err, notApplied: true})
		}
	}
}

// propose registers a waiter for id, runs prop on the RawNode if this
// member leads, and waits for the waiter. A non-nil error means no result
// (not leader, dropped, stopped, ctx done); a result may still carry the
// state machine's error. Only membership changes use it; commands go
// through the proposal queue.
func (n *Node) propose(ctx context.Context, id uint64, prop func(*raft.RawNode) error) (proposalResult, error) {
	w := n.proposals.register(id)
	n.mu.Lock()
	var err error
	switch {
	case n.stopped || !n.running.Load():
		err = rpcerr.NotLeader(0, "")
	case n.rn.BasicStatus().RaftState != raft.StateLeader:
		err = errNotLeaderHere
	default:
		err = prop(n.rn)
	}
	n.mu.Unlock()
	if err != nil {
		n.proposals.remove(id)
		if errors.Is(err, errNotLeaderHere) || errors.Is(err, raft.ErrProposalDropped) {
			return proposalResult{}, n.notLeaderErr()
		}
		if rpcerr.Code(err) != codes.Unknown {
			return proposalResult{}, err
		}
		return proposalResult{}, fmt.Errorf("raftnode: propose: %w", err)
	}
	n.signal()
	select {
	case res := <-w.ch:
		return res, nil
	case <-ctx.Done():
		n.proposals.remove(id)
		return proposalResult{}, ctx.Err()
	}
}

var errNotLeaderHere = errors.New("not leader")

// ReadIndex returns once this member's state machine has applied
// everything committed when ReadIndex was called: reads after it are
// linearizable. It works on followers (through the leader). Errors:
// rpcerr.NotLeader when no leader is known, ctx errors on timeout
// (DefaultRequestTimeout if ctx has no deadline).
func (n *Node) ReadIndex(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	// A request can be lost (to a leader change, or a dropped message), so
	// it is re-issued with a fresh context every election timeout.
	retry := time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	for {
		lead, _ := n.LeaderAddr()
		if lead == 0 {
			return rpcerr.NotLeader(0, "")
		}
		rctx := make([]byte, 16)
		binary.BigEndian.PutUint64(rctx, n.cfg.ID)
		binary.BigEndian.PutUint64(rctx[8:], n.readSeq.Add(1))
		ch := n.reads.register(rctx)
		n.mu.Lock()
		stopped := n.stopped || !n.running.Load()
		if !stopped {
			n.rn.ReadIndex(rctx)
		}
		n.mu.Unlock()
		if stopped {
			n.reads.remove(rctx)
			return rpcerr.NotLeader(0, "")
		}
		n.signal()
		timer := time.NewTimer(retry)
		select {
		case idx := <-ch:
			timer.Stop()
			select {
			case <-n.applied.wait(idx):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-timer.C:
			n.reads.remove(rctx)
		case <-ctx.Done():
			timer.Stop()
			n.reads.remove(rctx)
			return ctx.Err()
		}
	}
}

// AddMember adds a voter at addr with a fresh id (one above the highest id
// ever seen, never reused) and returns it with the resulting membership
// once this leader applied the change. The new member is then started with
// Config.Join and that id. Leader only.
func (n *Node) AddMember(ctx context.Context, addr string) (*placementpb.Member, []*placementpb.Member, error) {
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		return nil, nil, rpcerr.InvalidArgument("addr", fmt.Sprintf("%q is not host:port", addr))
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	n.confMu.Lock()
	defer n.confMu.Unlock()
	members, err := n.prepareConfChange(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range members.Members {
		if m.GetAddr() == addr {
			return nil, nil, rpcerr.AlreadyExists("member", addr)
		}
	}
	id := max(members.MaxID, n.cfg.ID) + 1
	if id > maxMemberID {
		return nil, nil, rpcerr.ResourceExhausted("member ids", maxMemberID, id)
	}
	member := &placementpb.Member{Id: id, Addr: addr}
	mctx, err := proto.Marshal(member)
	if err != nil {
		return nil, nil, fmt.Errorf("raftnode: marshal member: %w", err)
	}
	res, err := n.proposeConfChange(ctx, &raftpb.ConfChange{
		Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(id), Context: mctx,
	})
	if err != nil {
		return nil, nil, err
	}
	n.log.Info().Uint64("id", id).Str("addr", addr).Msg("member added")
	return member, res.members.Members, nil
}

// RemoveMember removes voter id and returns the resulting membership once
// this leader applied the change. Removing the leader itself makes it step
// down and stop (its Run returns ErrRemoved). Leader only.
func (n *Node) RemoveMember(ctx context.Context, id uint64) ([]*placementpb.Member, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	n.confMu.Lock()
	defer n.confMu.Unlock()
	members, err := n.prepareConfChange(ctx)
	if err != nil {
		return nil, err
	}
	if !members.Contains(id) {
		return nil, rpcerr.NotFound("member", strconv.FormatUint(id, 10))
	}
	if len(members.Members) == 1 {
		return nil, rpcerr.InvalidArgument("id", "cannot remove the last member")
	}
	res, err := n.proposeConfChange(ctx, &raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: new(id)})
	if err != nil {
		return nil, err
	}
	n.log.Info().Uint64("id", id).Msg("member removed")
	return res.members.Members, nil
}

// prepareConfChange checks leadership and waits until this leader applied
// everything committed, so raft does not refuse the change because an
// earlier one is still unapplied; it returns the current membership.
func (n *Node) prepareConfChange(ctx context.Context) (raftstore.Membership, error) {
	if !n.IsLeader() {
		return raftstore.Membership{}, n.notLeaderErr()
	}
	if err := n.ReadIndex(ctx); err != nil {
		return raftstore.Membership{}, err
	}
	n.viewMu.RLock()
	defer n.viewMu.RUnlock()
	return n.members.Clone(), nil
}

func (n *Node) proposeConfChange(ctx context.Context, cc *raftpb.ConfChange) (proposalResult, error) {
	id := n.nextProposalID()
	cc.Id = new(id)
	res, err := n.propose(ctx, id, func(rn *raft.RawNode) error {
		if err := rn.ProposeConfChange(cc); err != nil {
			return err
		}
		n.pendingConf = &pendingConfChange{proposalID: id, gen: n.readyGen}
		return nil
	})
	if err != nil {
		return proposalResult{}, err
	}
	if res.err != nil {
		return proposalResult{}, res.err
	}
	return res, nil
}
