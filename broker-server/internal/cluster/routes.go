package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// routeTable is the cluster's route table as this broker last saw it: a
// filter index whose "clients" are broker node ids.
type routeTable struct {
	mu  sync.Mutex
	idx *core.Index
	set map[string]struct{} // route keys present (broker/filter)
}

func newRouteTable() *routeTable {
	return &routeTable{idx: core.NewIndex(), set: map[string]struct{}{}}
}

// parseRoute splits a route key suffix "<broker>/<filter>".
func parseRoute(rest string) (uint64, string, bool) {
	b, filter, ok := strings.Cut(rest, "/")
	if !ok || filter == "" {
		return 0, "", false
	}
	id, err := strconv.ParseUint(b, 10, 64)
	return id, filter, err == nil && id != 0
}

// route is one broker's subscription filter.
type route struct {
	broker uint64
	filter string
}

// routeSubscription is the index entry of a route; false for a filter that
// does not parse.
func routeSubscription(broker uint64, filter string) (core.Subscription, bool) {
	g, tf, err := packets.ParseShared(filter)
	if err != nil {
		return core.Subscription{}, false
	}
	return core.Subscription{ClientID: strconv.FormatUint(broker, 10), Filter: filter, Group: g, TopicFilter: tf}, true
}

func (t *routeTable) put(broker uint64, filter string) {
	sub, ok := routeSubscription(broker, filter)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set[sub.ClientID+"/"+filter] = struct{}{}
	t.idx.Subscribe(sub)
}

func (t *routeTable) del(broker uint64, filter string) {
	key := strconv.FormatUint(broker, 10) + "/" + filter
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.set, key)
	t.idx.Unsubscribe(strconv.FormatUint(broker, 10), filter)
}

// replace swaps in the routes of a fresh listing at once: a publish
// matched meanwhile sees the old table or the new one, never a table
// emptied for the reload (which lost online messages to routes present in
// both).
func (t *routeTable) replace(routes []route) {
	idx, set := core.NewIndex(), make(map[string]struct{}, len(routes))
	for _, r := range routes {
		if sub, ok := routeSubscription(r.broker, r.filter); ok {
			set[sub.ClientID+"/"+r.filter] = struct{}{}
			idx.Subscribe(sub)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idx, t.set = idx, set
}

func (t *routeTable) match(topic string, alive func(string) bool) []core.Delivery {
	t.mu.Lock()
	idx := t.idx
	t.mu.Unlock()
	return idx.Match(topic, "", alive)
}

// Forward implements core.Cluster.
func (c *Cluster) Forward(m *core.Message, pos core.Position, shares []string) map[string]bool {
	self := strconv.FormatUint(c.self, 10)
	alive := func(id string) bool {
		n, err := strconv.ParseUint(id, 10, 64)
		return err == nil && c.alive(n, 0)
	}
	type target struct {
		nonShared bool
		shares    []string
	}
	targets := map[string]*target{}
	get := func(id string) *target {
		t := targets[id]
		if t == nil {
			t = &target{}
			targets[id] = t
		}
		return t
	}
	serve := map[string]bool{}
	decided := map[string]bool{}
	for _, d := range c.routes.match(m.Topic, alive) {
		if d.Share != "" {
			decided[d.Share] = true
			if d.ClientID == self {
				serve[d.Share] = true
			} else if alive(d.ClientID) {
				get(d.ClientID).shares = append(get(d.ClientID).shares, d.Share)
			} else {
				// No live broker of the table has the group: keep it here
				// if this broker has members.
				decided[d.Share] = false
			}
			continue
		}
		if d.ClientID != self && alive(d.ClientID) {
			get(d.ClientID).nonShared = true
		}
	}
	// Groups this broker has that the table does not show yet (its own
	// route write is still on the way) are served here.
	for _, s := range shares {
		if !decided[s] {
			serve[s] = true
		}
	}
	if len(targets) == 0 {
		return serve
	}
	pm := toProto(m)
	var lp *brokerpb.LogPosition
	if pos.Valid {
		lp = &brokerpb.LogPosition{Partition: pos.Partition, Offset: pos.Offset}
	}
	for id, t := range targets {
		n, _ := strconv.ParseUint(id, 10, 64)
		c.peers.send(n, &brokerpb.DeliverRequest{Message: pm, Position: lp, NonShared: t.nonShared, ShareFilters: t.shares})
	}
	return serve
}

// routeUpdate is one queued change of this broker's routes.
type routeUpdate struct {
	filter string
	add    bool
	done   chan error
}

// routeWriter applies this broker's route changes to the placement center
// one at a time, in the order the core made them.
type routeWriter struct {
	c  *Cluster
	mu sync.Mutex
	q  []routeUpdate
	ch chan struct{}
}

func newRouteWriter(c *Cluster) *routeWriter {
	return &routeWriter{c: c, ch: make(chan struct{}, 1)}
}

// UpdateRoute implements core.Cluster.
func (c *Cluster) UpdateRoute(filter string, add bool) <-chan error {
	done := make(chan error, 1)
	w := c.writer
	w.mu.Lock()
	w.q = append(w.q, routeUpdate{filter: filter, add: add, done: done})
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return done
}

func (w *routeWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.ch:
		}
		for {
			w.mu.Lock()
			if len(w.q) == 0 {
				w.mu.Unlock()
				break
			}
			u := w.q[0]
			w.mu.Unlock()
			err := w.apply(ctx, u)
			if err != nil && ctx.Err() == nil {
				w.c.log.Warn().Err(err).Str("filter", u.filter).Bool("add", u.add).Msg("route update failed; retrying")
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
			w.mu.Lock()
			w.q = w.q[1:]
			w.mu.Unlock()
			u.done <- err
		}
	}
}

func (w *routeWriter) apply(ctx context.Context, u routeUpdate) error {
	c := w.c
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key := c.routeKey(c.self, u.filter)
	if u.add {
		_, err := c.opts.Placement.PutKV(ctx, &placementpb.PutKVRequest{Key: key})
		if err == nil {
			// The table learns it from the watch too; adding it now keeps
			// this broker's own view current.
			c.routes.put(c.self, u.filter)
		}
		return err
	}
	_, err := c.opts.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: key})
	if status.Code(err) == codes.NotFound {
		err = nil
	}
	if err == nil {
		c.routes.del(c.self, u.filter)
	}
	return err
}

// clearOwnRoutes deletes the routes an earlier life of this node left.
func (c *Cluster) clearOwnRoutes(ctx context.Context) error {
	prefix := c.prefix("routes") + strconv.FormatUint(c.self, 10) + "/"
	return c.deletePrefix(ctx, prefix, func(*placementpb.KeyValue) bool { return true })
}

// deletePrefix deletes the KV entries under prefix for which drop is true,
// each only if it is still at the version listed (a key written again in
// the meantime stays).
func (c *Cluster) deletePrefix(ctx context.Context, prefix string, drop func(kv *placementpb.KeyValue) bool) error {
	resp, err := c.opts.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: prefix,
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return err
	}
	for _, kv := range resp.GetKvs() {
		if !drop(kv) {
			continue
		}
		_, err := c.opts.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: kv.GetKey(),
			ExpectedVersion: proto.Uint64(kv.GetVersion())})
		if err != nil && status.Code(err) != codes.NotFound && !isVersionMismatch(err) {
			return err
		}
	}
	return nil
}

// ForwardShare implements core.Cluster.
func (c *Cluster) ForwardShare(m *core.Message, share string) bool {
	self := strconv.FormatUint(c.self, 10)
	alive := func(id string) bool {
		n, err := strconv.ParseUint(id, 10, 64)
		return err == nil && id != self && c.alive(n, 0)
	}
	for _, d := range c.routes.match(m.Topic, alive) {
		if d.Share != share || !alive(d.ClientID) {
			continue
		}
		n, _ := strconv.ParseUint(d.ClientID, 10, 64)
		c.peers.send(n, &brokerpb.DeliverRequest{Message: toProto(m), ShareFilters: []string{share}})
		return true
	}
	return false
}
