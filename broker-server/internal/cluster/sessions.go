package cluster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// claimAttempts bounds the compare-and-set retries of one Claim (each
// retry means another broker wrote the record in between).
const claimAttempts = 5

// kickTimeout bounds how long a claiming broker waits for the owner to
// hand a session over before taking it anyway.
const kickTimeout = 3 * time.Second

// getSession reads a session record linearizably; nil when there is none.
func (c *Cluster) getSession(ctx context.Context, clientID string) (*brokerpb.MqttSession, uint64, error) {
	resp, err := c.opts.Placement.GetKV(ctx, &placementpb.GetKVRequest{Key: c.sessionKey(clientID),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if status.Code(err) == codes.NotFound {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	kv := resp.GetKv()
	if kv == nil {
		return nil, 0, nil
	}
	rec := &brokerpb.MqttSession{}
	if err := proto.Unmarshal(kv.GetValue(), rec); err != nil {
		return nil, 0, fmt.Errorf("session record of %q: %w", clientID, err)
	}
	return rec, kv.GetVersion(), nil
}

// putSession writes rec if the record is still at version expected (0:
// must not exist) and returns the new version.
func (c *Cluster) putSession(ctx context.Context, rec *brokerpb.MqttSession, expected uint64) (uint64, error) {
	v, err := proto.Marshal(rec)
	if err != nil {
		return 0, err
	}
	resp, err := c.opts.Placement.PutKV(ctx, &placementpb.PutKVRequest{Key: c.sessionKey(rec.GetClientId()), Value: v,
		ExpectedVersion: proto.Uint64(expected)})
	if err != nil {
		return 0, err
	}
	return resp.GetKv().GetVersion(), nil
}

func isVersionMismatch(err error) bool {
	_, ok := rpcerr.AsVersionMismatch(err)
	return ok
}

// expired reports whether a record of a disconnected session has outlived
// its expiry interval at now.
func expired(rec *brokerpb.MqttSession, now time.Time) bool {
	if rec.GetConnected() || rec.GetExpiryInterval() == core.NeverExpire || rec.GetDisconnectedMs() == 0 {
		return false
	}
	end := time.UnixMilli(rec.GetDisconnectedMs()).Add(time.Duration(rec.GetExpiryInterval()) * time.Second)
	return !now.Before(end)
}

// Claim implements core.Cluster.
func (c *Cluster) Claim(ctx context.Context, cl core.Claim) (*core.SessionState, error) {
	kicked := false
	for attempt := 0; ; attempt++ {
		rec, version, err := c.getSession(ctx, cl.ClientID)
		if err != nil {
			return nil, fmt.Errorf("read session record: %w", err)
		}
		if rec != nil && rec.GetOwner() != 0 && rec.GetOwner() != c.self && !kicked &&
			c.alive(rec.GetOwner(), rec.GetOwnerIncarnation()) {
			// Ask the owner to close its connection and save the state.
			kicked = true
			c.kick(ctx, rec.GetOwner(), cl.ClientID)
			continue
		}
		var stored *core.SessionState
		if rec != nil && !cl.Clean && rec.GetExpiryInterval() > 0 && !expired(rec, time.Now()) {
			stored = &core.SessionState{ClientID: cl.ClientID, Expiry: rec.GetExpiryInterval(), Positions: rec.GetPositions()}
			for _, ps := range rec.GetSubscriptions() {
				if sub, ok := subFromProto(ps); ok {
					stored.Subs = append(stored.Subs, sub)
				}
			}
		}
		next := &brokerpb.MqttSession{ClientId: cl.ClientID, Owner: c.self, OwnerIncarnation: c.incarnation,
			Connected: true, ExpiryInterval: cl.Expiry, Will: toProto(cl.Will), WillDelay: cl.WillDelay}
		if stored != nil {
			next.Subscriptions, next.Positions = rec.GetSubscriptions(), rec.GetPositions()
		}
		nv, err := c.putSession(ctx, next, version)
		if isVersionMismatch(err) && attempt < claimAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write session record: %w", err)
		}
		c.sessMu.Lock()
		c.versions[cl.ClientID] = nv
		c.sessMu.Unlock()
		c.orphanWill(rec, stored != nil)
		return stored, nil
	}
}

// kick asks broker owner to hand clientID's session over; a failure only
// costs the owner its last unsaved positions (the claim goes on).
func (c *Cluster) kick(ctx context.Context, owner uint64, clientID string) {
	ctx, cancel := context.WithTimeout(ctx, kickTimeout)
	defer cancel()
	cli, err := c.peers.client(owner)
	if err == nil {
		_, err = cli.KickSession(ctx, &brokerpb.KickSessionRequest{Tenant: c.opts.Tenant, ClientId: clientID, NewOwner: c.self})
	}
	if err != nil {
		c.log.Warn().Err(err).Uint64("owner", owner).Str("client_id", clientID).Msg("asking the owner to hand a session over")
	}
}

// Save implements core.Cluster.
func (c *Cluster) Save(ctx context.Context, st *core.SessionState) error {
	c.sessMu.Lock()
	version, ok := c.versions[st.ClientID]
	c.sessMu.Unlock()
	if !ok {
		return core.ErrTakenOver
	}
	rec := &brokerpb.MqttSession{ClientId: st.ClientID, Owner: c.self, OwnerIncarnation: c.incarnation,
		Connected: st.Connected, ExpiryInterval: st.Expiry, Positions: st.Positions, Will: toProto(st.Will),
		WillDelay: st.WillDelay}
	if !st.Connected {
		rec.DisconnectedMs = time.Now().UnixMilli()
	}
	for _, sub := range st.Subs {
		rec.Subscriptions = append(rec.Subscriptions, subToProto(sub))
	}
	nv, err := c.putSession(ctx, rec, version)
	if isVersionMismatch(err) {
		// Another write of this broker (a concurrent save, a new
		// connection's claim) may have moved the version: only another
		// owner means the session is gone.
		cur, cv, gerr := c.getSession(ctx, st.ClientID)
		if gerr != nil {
			return gerr
		}
		if cur == nil || cur.GetOwner() != c.self || cur.GetOwnerIncarnation() != c.incarnation {
			c.forget(st.ClientID, version)
			return core.ErrTakenOver
		}
		version = cv
		nv, err = c.putSession(ctx, rec, cv)
		if isVersionMismatch(err) {
			return fmt.Errorf("session record of %q changed under a save; will retry", st.ClientID)
		}
	}
	if err != nil {
		return err
	}
	c.sessMu.Lock()
	if c.versions[st.ClientID] == version {
		c.versions[st.ClientID] = nv
	}
	c.sessMu.Unlock()
	return nil
}

// forget drops the version of a session this broker no longer owns.
func (c *Cluster) forget(clientID string, version uint64) {
	c.sessMu.Lock()
	if c.versions[clientID] == version {
		delete(c.versions, clientID)
	}
	c.sessMu.Unlock()
}

// Release implements core.Cluster.
func (c *Cluster) Release(ctx context.Context, clientID string) error {
	c.sessMu.Lock()
	version, ok := c.versions[clientID]
	c.sessMu.Unlock()
	if !ok {
		return core.ErrTakenOver
	}
	_, err := c.opts.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: c.sessionKey(clientID),
		ExpectedVersion: proto.Uint64(version)})
	c.forget(clientID, version)
	switch {
	case isVersionMismatch(err):
		return core.ErrTakenOver
	case status.Code(err) == codes.NotFound:
		return nil
	}
	return err
}

// orphanWill publishes the will a claimed record still held from a
// connection no live broker serves (its broker died before the sweeper
// saw it, or the will waits out its delay): a will without delay fires now,
// as it would have when the connection died; a delayed one fires now
// unless the session was resumed, which cancels it (MQTT 5 3.1.3.2.2).
func (c *Cluster) orphanWill(rec *brokerpb.MqttSession, resumed bool) {
	if rec == nil || rec.GetWill() == nil {
		return
	}
	orphan := rec.GetOwner() == 0 || !c.alive(rec.GetOwner(), rec.GetOwnerIncarnation())
	if !orphan || (resumed && rec.GetWillDelay() > 0) {
		return
	}
	m := fromProto(rec.GetWill())
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.core.Publish(ctx, m); err != nil {
			c.log.Warn().Err(err).Str("client_id", rec.GetClientId()).Msg("publishing the will of a connection whose broker died")
			return
		}
		c.stats.willsFired.Add(1)
	}()
}
