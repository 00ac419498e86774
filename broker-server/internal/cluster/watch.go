package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// load lists the route table and the retained messages and returns the
// revision to watch after.
func (c *Cluster) load(ctx context.Context) (uint64, error) {
	routes, err := c.opts.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: c.prefix("routes"),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return 0, fmt.Errorf("list routes: %w", err)
	}
	retained, err := c.opts.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: c.prefix("retained"),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return 0, fmt.Errorf("list retained messages: %w", err)
	}
	mapped, err := c.opts.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: c.prefix("mappings"),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return 0, fmt.Errorf("list stream mappings: %w", err)
	}
	var ms []*brokerpb.StreamMapping
	for _, kv := range mapped.GetKvs() {
		if m := c.decodeMapping(kv); m != nil {
			ms = append(ms, m)
		}
	}
	c.mappings.replace(ms)
	var rs []route
	for _, kv := range routes.GetKvs() {
		if b, f, ok := parseRoute(strings.TrimPrefix(kv.GetKey(), c.prefix("routes"))); ok {
			rs = append(rs, route{broker: b, filter: f})
		}
	}
	c.routes.replace(rs)
	var msgs []*core.Message
	for _, kv := range retained.GetKvs() {
		if m := c.decodeRetained(kv); m != nil {
			msgs = append(msgs, m)
		}
	}
	c.opts.Retained.Replace(msgs)
	// Events between the two lists are applied again by the watch; both
	// kinds of change are idempotent.
	return min(routes.GetRevision(), retained.GetRevision(), mapped.GetRevision()), nil
}

func (c *Cluster) decodeRetained(kv *placementpb.KeyValue) *core.Message {
	pm := &brokerpb.MqttMessage{}
	if err := proto.Unmarshal(kv.GetValue(), pm); err != nil || pm.GetTopic() == "" {
		c.log.Warn().Str("key", kv.GetKey()).Msg("skipping a retained message that does not decode")
		return nil
	}
	return fromProto(pm)
}

// watch follows route and retained-message changes from c.watchFrom,
// listing again after a resync or a broken stream, until ctx ends.
func (c *Cluster) watch(ctx context.Context) error {
	from := c.watchFrom
	for ctx.Err() == nil {
		err := c.watchOnce(ctx, from)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Debug().Err(err).Msg("route watch ended; listing again")
		if !lifecycle.Sleep(ctx, 200*time.Millisecond) {
			return nil
		}
		rev, lerr := c.load(ctx)
		if lerr != nil {
			c.log.Warn().Err(lerr).Msg("reloading routes and retained messages")
			continue
		}
		from = rev + 1
	}
	return nil
}

func (c *Cluster) watchOnce(ctx context.Context, from uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.opts.Placement.Watch(ctx, &placementpb.WatchRequest{StartRevision: from,
		Kinds:      []placementpb.ResourceKind{placementpb.ResourceKind_RESOURCE_KIND_KV},
		KvPrefixes: []string{c.prefix("routes"), c.prefix("retained"), c.prefix("mappings")}})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		if resp.GetResync() {
			return fmt.Errorf("watch resync at revision %d", resp.GetRevision())
		}
		for _, ev := range resp.GetEvents() {
			c.apply(ev)
		}
	}
}

func (c *Cluster) apply(ev *placementpb.WatchEvent) {
	kv := ev.GetKv()
	if kv == nil {
		return
	}
	del := ev.GetType() == placementpb.EventType_EVENT_TYPE_DELETE
	switch key := kv.GetKey(); {
	case strings.HasPrefix(key, c.prefix("routes")):
		b, f, ok := parseRoute(strings.TrimPrefix(key, c.prefix("routes")))
		if !ok {
			return
		}
		if del {
			c.routes.del(b, f)
		} else {
			c.routes.put(b, f)
		}
	case strings.HasPrefix(key, c.prefix("mappings")):
		if del {
			c.mappings.del(strings.TrimPrefix(key, c.prefix("mappings")))
			return
		}
		if m := c.decodeMapping(kv); m != nil {
			c.mappings.put(m)
		}
	case strings.HasPrefix(key, c.prefix("retained")):
		topic := strings.TrimPrefix(key, c.prefix("retained"))
		if del {
			c.opts.Retained.Set(&core.Message{Topic: topic})
			return
		}
		if m := c.decodeRetained(kv); m != nil {
			c.opts.Retained.Set(m)
		}
	}
}

// Retain implements core.Cluster.
func (c *Cluster) Retain(ctx context.Context, m *core.Message) error {
	key := c.retainedKey(m.Topic)
	if len(m.Payload) == 0 {
		_, err := c.opts.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: key})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		return err
	}
	v, err := proto.Marshal(toProto(m))
	if err != nil {
		return err
	}
	_, err = c.opts.Placement.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: v})
	return err
}
