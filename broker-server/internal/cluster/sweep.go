package cluster

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// sweep does the cluster's housekeeping while this broker is the live
// broker with the lowest node id: the sessions of brokers that died (their
// wills fire, their records wait for their clients), sessions that expired
// with no broker holding them, and dead brokers' routes.
func (c *Cluster) sweep(ctx context.Context) {
	t := time.NewTicker(c.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.sweeper() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := c.sweepSessions(sctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("sweeping sessions")
		}
		if err := c.sweepRoutes(sctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("sweeping routes")
		}
		if err := c.sweepRetained(sctx); err != nil && ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("sweeping expired retained messages")
		}
		cancel()
	}
}

func (c *Cluster) sweepRoutes(ctx context.Context) error {
	prefix := c.prefix("routes")
	return c.deletePrefix(ctx, prefix, func(kv *placementpb.KeyValue) bool {
		b, _, ok := parseRoute(strings.TrimPrefix(kv.GetKey(), prefix))
		return ok && !c.alive(b, 0)
	})
}

// sweepRetained deletes retained messages whose message expiry passed
// (brokers already stop delivering them; this frees their keys, e.g. the
// $SYS topics of brokers that are gone).
func (c *Cluster) sweepRetained(ctx context.Context) error {
	now := time.Now().UnixMilli()
	return c.deletePrefix(ctx, c.prefix("retained"), func(kv *placementpb.KeyValue) bool {
		pm := &brokerpb.MqttMessage{}
		if err := proto.Unmarshal(kv.GetValue(), pm); err != nil {
			return false
		}
		return pm.GetExpiresMs() > 0 && pm.GetExpiresMs() <= now
	})
}

func (c *Cluster) sweepSessions(ctx context.Context) error {
	resp, err := c.opts.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: c.prefix("sessions"),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, kv := range resp.GetKvs() {
		rec := &brokerpb.MqttSession{}
		if err := proto.Unmarshal(kv.GetValue(), rec); err != nil {
			continue
		}
		if rec.GetOwner() != 0 && c.alive(rec.GetOwner(), rec.GetOwnerIncarnation()) {
			continue // its broker looks after it
		}
		if err := c.sweepSession(ctx, rec, kv.GetVersion(), now); err != nil {
			c.log.Warn().Err(err).Str("client_id", rec.GetClientId()).Msg("sweeping a session")
		}
	}
	return nil
}

// sweepSession handles one session no live broker holds. Every write is a
// compare-and-set on the version read, so a client that reconnects in the
// meantime (its new broker claims the record) wins.
func (c *Cluster) sweepSession(ctx context.Context, rec *brokerpb.MqttSession, version uint64, now time.Time) error {
	changed := false
	if rec.GetOwner() != 0 {
		// Its broker died: the connection ended now.
		c.log.Info().Str("client_id", rec.GetClientId()).Uint64("broker", rec.GetOwner()).Msg("taking over the session of a dead broker")
		if rec.GetConnected() {
			rec.DisconnectedMs = now.UnixMilli()
		}
		rec.Owner, rec.OwnerIncarnation, rec.Connected = 0, 0, false
		changed = true
	}
	fire := rec.GetWill() != nil && !now.Before(time.UnixMilli(rec.GetDisconnectedMs()).Add(time.Duration(rec.GetWillDelay())*time.Second))
	end := rec.GetExpiryInterval() == 0 || expired(rec, now)
	if end && rec.GetWill() != nil {
		fire = true // the session ends first: the will goes now
	}
	var will *brokerpb.MqttMessage
	if fire {
		will = rec.GetWill()
		rec.Will, rec.WillDelay = nil, 0
		changed = true
	}
	if !changed && !end {
		return nil
	}
	// Record first, then publish: a will is published at most once even
	// if this broker dies between the two.
	if end {
		_, err := c.opts.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: c.sessionKey(rec.GetClientId()),
			ExpectedVersion: proto.Uint64(version)})
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
	} else if _, err := c.putSession(ctx, rec, version); err != nil {
		return err
	}
	if will != nil {
		m := fromProto(will)
		if _, err := c.core.Publish(ctx, m); err != nil {
			return err
		}
		c.stats.willsFired.Add(1)
		c.log.Info().Str("client_id", rec.GetClientId()).Str("topic", m.Topic).Msg("published the will of a session whose broker died")
	}
	return nil
}
