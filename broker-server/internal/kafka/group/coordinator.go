package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
)

// Group states, as DescribeGroups and ListGroups name them.
const (
	StateEmpty               = "Empty"
	StatePreparingRebalance  = "PreparingRebalance"
	StateCompletingRebalance = "CompletingRebalance"
	StateStable              = "Stable"
	StateDead                = "Dead"
)

// Options configure a Coordinator.
type Options struct {
	Offsets OffsetStore
	// InitialRebalanceDelay is how long a rebalance of an empty group
	// waits for more members (Kafka's group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (INVALID_SESSION_TIMEOUT outside).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// Tick is how often sessions and rebalance deadlines are checked.
	Tick   time.Duration
	Logger zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.MinSessionTimeout <= 0 {
		o.MinSessionTimeout = 1 * time.Second
	}
	if o.MaxSessionTimeout <= 0 {
		o.MaxSessionTimeout = 30 * time.Minute
	}
	if o.Tick <= 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.Offsets == nil {
		o.Offsets = &MemoryOffsets{}
	}
	return o
}

// Coordinator holds the groups this broker coordinates.
type Coordinator struct {
	opts   Options
	mu     sync.Mutex
	groups map[string]*group
}

type joinWaiter struct {
	ch chan wire.JoinGroupResponse
}

type syncWaiter struct {
	ch chan wire.SyncGroupResponse
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	protocolType     string
	protocols        []wire.JoinGroupProtocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	deadline         time.Time // session expiry
	join             *joinWaiter
	sync             *syncWaiter
	assignment       []byte
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

type group struct {
	id           string
	state        string
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	// pending are member ids handed out with MEMBER_ID_REQUIRED, not yet
	// joined, with their expiry.
	pending map[string]time.Time
	// rebalanceDeadline ends PreparingRebalance (members that have not
	// rejoined by then are removed); initialDelay marks a rebalance of an
	// empty group, which waits for the deadline even when everyone joined.
	rebalanceDeadline time.Time
	initialDelay      bool
}

// New returns a coordinator; Run drives its timers.
func New(opts Options) *Coordinator {
	return &Coordinator{opts: opts.withDefaults(), groups: map[string]*group{}}
}

// Run checks session expiries and rebalance deadlines until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			c.tick(now)
		}
	}
}

func (c *Coordinator) tick(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for gid, g := range c.groups {
		for id, exp := range g.pending {
			if now.After(exp) {
				delete(g.pending, id)
			}
		}
		if g.state == StateEmpty && len(g.members) == 0 && len(g.pending) == 0 {
			// Nothing left to remember (committed offsets are in the
			// OffsetStore): forget the group so memory stays bounded.
			delete(c.groups, gid)
			continue
		}
		switch g.state {
		case StatePreparingRebalance:
			if now.After(g.rebalanceDeadline) {
				c.completeJoin(g)
			}
		case StateStable, StateCompletingRebalance:
			expired := false
			for id, m := range g.members {
				if m.join == nil && m.sync == nil && now.After(m.deadline) {
					c.opts.Logger.Debug().Str("group", g.id).Str("member", id).Msg("member session expired")
					delete(g.members, id)
					expired = true
				}
			}
			if expired {
				c.rebalance(g, now, "member session expired")
			}
		}
	}
}

func newMemberID(clientID string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + hex.EncodeToString(b[:])
}

func (c *Coordinator) getGroup(id string, create bool) *group {
	g := c.groups[id]
	if g == nil && create {
		g = &group{id: id, state: StateEmpty, members: map[string]*member{}, pending: map[string]time.Time{}}
		c.groups[id] = g
	}
	return g
}

// rebalance moves g to PreparingRebalance: pending syncs are answered
// REBALANCE_IN_PROGRESS; members learn of it through Heartbeat.
func (c *Coordinator) rebalance(g *group, now time.Time, why string) {
	for _, m := range g.members {
		if m.sync != nil {
			m.sync.ch <- wire.SyncGroupResponse{ErrorCode: wire.ErrRebalanceInProgress}
			m.sync = nil
		}
	}
	if len(g.members) == 0 {
		g.state = StateEmpty
		g.generation++
		g.leader, g.protocol = "", ""
		return
	}
	if g.state != StatePreparingRebalance {
		var timeout time.Duration
		for _, m := range g.members {
			timeout = max(timeout, m.rebalanceTimeout)
		}
		g.state = StatePreparingRebalance
		g.rebalanceDeadline = now.Add(timeout)
		g.initialDelay = false
		c.opts.Logger.Debug().Str("group", g.id).Str("reason", why).Msg("rebalance")
	}
}

// maybeComplete finishes the join phase once every member has rejoined
// (unless the group waits out its initial delay).
func (c *Coordinator) maybeComplete(g *group) {
	if g.state != StatePreparingRebalance || g.initialDelay {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin ends PreparingRebalance: members that did not rejoin are
// removed, a protocol is chosen, the generation advances and every waiting
// JoinGroup is answered (the leader with the member list).
func (c *Coordinator) completeJoin(g *group) {
	for id, m := range g.members {
		if m.join == nil {
			delete(g.members, id)
		}
	}
	if len(g.members) == 0 {
		g.state = StateEmpty
		g.generation++
		g.leader, g.protocol = "", ""
		return
	}
	g.generation++
	g.protocol = chooseProtocol(g)
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		ids := make([]string, 0, len(g.members))
		for id := range g.members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		g.leader = ids[0]
	}
	g.state = StateCompletingRebalance
	now := time.Now()
	var all []wire.JoinGroupMember
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		all = append(all, wire.JoinGroupMember{MemberID: id, InstanceID: m.instanceID, ProtocolMetadata: m.metadata(g.protocol)})
	}
	for _, id := range ids {
		m := g.members[id]
		pt, proto := g.protocolType, g.protocol
		resp := wire.JoinGroupResponse{Generation: g.generation, ProtocolType: &pt, Protocol: &proto, LeaderID: g.leader, MemberID: id}
		if id == g.leader {
			resp.Members = all
		}
		m.join.ch <- resp
		m.join = nil
		m.assignment = nil
		m.deadline = now.Add(m.sessionTimeout)
	}
}

// chooseProtocol picks the first protocol of the leader (or of the
// lowest member id) that every member supports.
func chooseProtocol(g *group) string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	first := g.members[ids[0]]
	if l, ok := g.members[g.leader]; ok {
		first = l
	}
	for _, p := range first.protocols {
		ok := true
		for _, m := range g.members {
			if m.metadata(p.Name) == nil && !hasProtocol(m, p.Name) {
				ok = false
				break
			}
		}
		if ok {
			return p.Name
		}
	}
	return first.protocols[0].Name
}

func hasProtocol(m *member, name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// compatible: the joiner shares a protocol type and at least one protocol
// with every current member.
func compatible(g *group, req *wire.JoinGroupRequest, self string) bool {
	for id, m := range g.members {
		if id == self {
			continue
		}
		if m.protocolType != req.ProtocolType {
			return false
		}
		shared := false
		for _, p := range req.Protocols {
			if hasProtocol(m, p.Name) {
				shared = true
				break
			}
		}
		if !shared {
			return false
		}
	}
	return true
}

// JoinInfo is what the server knows about the joining connection.
type JoinInfo struct {
	Version    int16
	ClientID   string
	ClientHost string
}

// Join handles JoinGroup; it blocks until the join phase completes or ctx
// ends.
func (c *Coordinator) Join(ctx context.Context, req *wire.JoinGroupRequest, info JoinInfo) wire.JoinGroupResponse {
	fail := func(code int16, memberID string) wire.JoinGroupResponse {
		return wire.JoinGroupResponse{ErrorCode: code, Generation: -1, MemberID: memberID}
	}
	if req.Group == "" {
		return fail(wire.ErrInvalidGroupID, req.MemberID)
	}
	st := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if st < c.opts.MinSessionTimeout || st > c.opts.MaxSessionTimeout {
		return fail(wire.ErrInvalidSessionTimeout, req.MemberID)
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return fail(wire.ErrInconsistentGroupProtocol, req.MemberID)
	}
	rt := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if rt <= 0 {
		rt = st
	}
	c.mu.Lock()
	g := c.getGroup(req.Group, true)
	now := time.Now()
	id := req.MemberID
	if id == "" {
		id = newMemberID(info.ClientID)
		if info.Version >= 4 {
			g.pending[id] = now.Add(st)
			c.mu.Unlock()
			return fail(wire.ErrMemberIDRequired, id)
		}
	} else if _, known := g.members[id]; !known {
		if _, ok := g.pending[id]; !ok {
			c.mu.Unlock()
			return fail(wire.ErrUnknownMemberID, id)
		}
	}
	if !compatible(g, req, id) {
		c.mu.Unlock()
		return fail(wire.ErrInconsistentGroupProtocol, id)
	}
	delete(g.pending, id)
	m := g.members[id]
	if m == nil {
		m = &member{id: id}
		g.members[id] = m
	}
	if m.join != nil {
		// A second JoinGroup from the same member replaces the first.
		m.join.ch <- fail(wire.ErrRebalanceInProgress, id)
	}
	m.instanceID, m.clientID, m.clientHost = req.InstanceID, info.ClientID, info.ClientHost
	m.protocolType, m.protocols = req.ProtocolType, req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = st, rt
	m.deadline = now.Add(st)
	w := &joinWaiter{ch: make(chan wire.JoinGroupResponse, 1)}
	m.join = w
	g.protocolType = req.ProtocolType
	switch g.state {
	case StateEmpty, StateDead:
		g.state = StatePreparingRebalance
		g.initialDelay = c.opts.InitialRebalanceDelay > 0
		g.rebalanceDeadline = now.Add(min(c.opts.InitialRebalanceDelay, rt))
	case StatePreparingRebalance:
		if g.initialDelay {
			// Each new member of an empty group extends the wait, within
			// its rebalance timeout.
			g.rebalanceDeadline = now.Add(min(c.opts.InitialRebalanceDelay, rt))
		}
	default:
		c.rebalance(g, now, "member joined")
	}
	c.maybeComplete(g)
	c.mu.Unlock()

	select {
	case resp := <-w.ch:
		return resp
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case resp := <-w.ch:
			return resp
		default:
		}
		if m.join == w {
			m.join = nil
		}
		return fail(wire.ErrRebalanceInProgress, id)
	}
}

// Sync handles SyncGroup; a follower's call waits for the leader's.
func (c *Coordinator) Sync(ctx context.Context, req *wire.SyncGroupRequest) wire.SyncGroupResponse {
	c.mu.Lock()
	g := c.getGroup(req.Group, false)
	if g == nil {
		c.mu.Unlock()
		return wire.SyncGroupResponse{ErrorCode: wire.ErrUnknownMemberID}
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		c.mu.Unlock()
		return wire.SyncGroupResponse{ErrorCode: wire.ErrUnknownMemberID}
	case req.Generation != g.generation:
		c.mu.Unlock()
		return wire.SyncGroupResponse{ErrorCode: wire.ErrIllegalGeneration}
	case g.state == StatePreparingRebalance:
		c.mu.Unlock()
		return wire.SyncGroupResponse{ErrorCode: wire.ErrRebalanceInProgress}
	}
	pt, proto := g.protocolType, g.protocol
	m.deadline = time.Now().Add(m.sessionTimeout)
	if g.state == StateStable {
		resp := wire.SyncGroupResponse{ProtocolType: &pt, Protocol: &proto, MemberAssignment: m.assignment}
		c.mu.Unlock()
		return resp
	}
	// CompletingRebalance.
	if req.MemberID == g.leader {
		for _, a := range req.GroupAssignment {
			if mm := g.members[a.MemberID]; mm != nil {
				mm.assignment = a.MemberAssignment
			}
		}
		g.state = StateStable
		for _, mm := range g.members {
			if mm.assignment == nil {
				mm.assignment = []byte{}
			}
			if mm.sync != nil {
				mm.sync.ch <- wire.SyncGroupResponse{ProtocolType: &pt, Protocol: &proto, MemberAssignment: mm.assignment}
				mm.sync = nil
			}
		}
		resp := wire.SyncGroupResponse{ProtocolType: &pt, Protocol: &proto, MemberAssignment: m.assignment}
		c.mu.Unlock()
		return resp
	}
	w := &syncWaiter{ch: make(chan wire.SyncGroupResponse, 1)}
	if m.sync != nil {
		m.sync.ch <- wire.SyncGroupResponse{ErrorCode: wire.ErrRebalanceInProgress}
	}
	m.sync = w
	c.mu.Unlock()
	select {
	case resp := <-w.ch:
		return resp
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case resp := <-w.ch:
			return resp
		default:
		}
		if m.sync == w {
			m.sync = nil
		}
		return wire.SyncGroupResponse{ErrorCode: wire.ErrRebalanceInProgress}
	}
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(req *wire.HeartbeatRequest) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getGroup(req.Group, false)
	if g == nil {
		return wire.ErrUnknownMemberID
	}
	m := g.members[req.MemberID]
	if m == nil {
		return wire.ErrUnknownMemberID
	}
	m.deadline = time.Now().Add(m.sessionTimeout)
	switch {
	case g.state == StatePreparingRebalance:
		return wire.ErrRebalanceInProgress
	case req.Generation != g.generation:
		return wire.ErrIllegalGeneration
	case g.state == StateCompletingRebalance:
		return wire.ErrNone
	}
	return wire.ErrNone
}

// Leave handles LeaveGroup for the listed members; it returns the
// top-level code and one code per member.
func (c *Coordinator) Leave(groupID string, ids []string) (int16, []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	codes := make([]int16, len(ids))
	g := c.getGroup(groupID, false)
	if g == nil {
		for i := range codes {
			codes[i] = wire.ErrUnknownMemberID
		}
		if len(ids) == 1 {
			return wire.ErrUnknownMemberID, codes
		}
		return wire.ErrNone, codes
	}
	left := false
	for i, id := range ids {
		m := g.members[id]
		if m == nil {
			codes[i] = wire.ErrUnknownMemberID
			continue
		}
		if m.join != nil {
			m.join.ch <- wire.JoinGroupResponse{ErrorCode: wire.ErrUnknownMemberID, Generation: -1, MemberID: id}
		}
		if m.sync != nil {
			m.sync.ch <- wire.SyncGroupResponse{ErrorCode: wire.ErrUnknownMemberID}
		}
		delete(g.members, id)
		left = true
	}
	if left {
		c.rebalance(g, time.Now(), "member left")
		c.maybeComplete(g)
	}
	if len(ids) == 1 {
		return codes[0], codes
	}
	return wire.ErrNone, codes
}

// CommitCheck validates an OffsetCommit's member and generation: a
// generation of -1 with no member id is a commit outside group
// management, allowed while the group has no members.
func (c *Coordinator) CommitCheck(groupID, memberID string, generation int32) int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getGroup(groupID, false)
	if generation < 0 && memberID == "" {
		if g != nil && len(g.members) > 0 {
			return wire.ErrUnknownMemberID
		}
		return wire.ErrNone
	}
	if g == nil {
		return wire.ErrUnknownMemberID
	}
	m := g.members[memberID]
	if m == nil {
		return wire.ErrUnknownMemberID
	}
	if generation != g.generation {
		return wire.ErrIllegalGeneration
	}
	if g.state == StateCompletingRebalance {
		return wire.ErrRebalanceInProgress
	}
	m.deadline = time.Now().Add(m.sessionTimeout)
	return wire.ErrNone
}

// Offsets is the coordinator's offset store.
func (c *Coordinator) Offsets() OffsetStore { return c.opts.Offsets }

// Describe returns a group's description (state Dead for an unknown one).
func (c *Coordinator) Describe(groupID string) wire.DescribeGroupsGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.getGroup(groupID, false)
	if g == nil {
		return wire.DescribeGroupsGroup{Group: groupID, State: StateDead, AuthorizedOperations: -2147483648}
	}
	d := wire.DescribeGroupsGroup{Group: groupID, State: g.state, ProtocolType: g.protocolType, AuthorizedOperations: -2147483648}
	if g.state == StateStable || g.state == StateCompletingRebalance {
		d.Protocol = g.protocol
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		dm := wire.DescribeGroupsMember{MemberID: id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			ProtocolMetadata: []byte{}, MemberAssignment: []byte{}}
		if d.Protocol != "" {
			dm.ProtocolMetadata = m.metadata(g.protocol)
			if g.state == StateStable && m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// Summary is one line of ListGroups.
type Summary struct {
	Group        string
	ProtocolType string
	State        string
}

// List returns the groups with members in this coordinator.
func (c *Coordinator) List() []Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Summary
	for id, g := range c.groups {
		out = append(out, Summary{Group: id, ProtocolType: g.protocolType, State: g.state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Delete removes an empty group and its committed offsets.
func (c *Coordinator) Delete(ctx context.Context, groupID string) int16 {
	c.mu.Lock()
	g := c.getGroup(groupID, false)
	if g != nil && len(g.members) > 0 {
		c.mu.Unlock()
		return wire.ErrNonEmptyGroup
	}
	delete(c.groups, groupID)
	c.mu.Unlock()
	if err := c.opts.Offsets.Delete(ctx, groupID); err != nil {
		return wire.ErrCoordinatorNotAvailable
	}
	return wire.ErrNone
}
