package fsm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Reads serve the latest committed batch. Every returned message is freshly
// decoded and belongs to the caller. Missing objects are rpcerr.NotFound;
// other errors are storage failures.

// get decodes key into a fresh message or returns NotFound(kind, name).
func get[T proto.Message](r pebble.Reader, key []byte, m T, kind, name string) (T, error) {
	var zero T
	found, err := getProto(r, key, m)
	if err != nil {
		return zero, fmt.Errorf("fsm: read %s %q: %w", kind, name, err)
	}
	if !found {
		return zero, rpcerr.NotFound(kind, name)
	}
	return m, nil
}

// GetNode returns the node with the given id.
func (f *FSM) GetNode(id uint64) (*placementpb.ClusterNode, error) {
	return get(f.db, nodeKey(id), newNode(), "node", strconv.FormatUint(id, 10))
}

// ListNodes returns the nodes of kind (UNSPECIFIED = all kinds) by id.
func (f *FSM) ListNodes(kind placementpb.NodeKind) ([]*placementpb.ClusterNode, error) {
	nodes, err := list(f.db, []byte(prefixNode), newNode, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("fsm: list nodes: %w", err)
	}
	if kind == placementpb.NodeKind_NODE_KIND_UNSPECIFIED {
		return nodes, nil
	}
	out := nodes[:0]
	for _, n := range nodes {
		if n.GetKind() == kind {
			out = append(out, n)
		}
	}
	return out, nil
}

// GetKV returns the entry at key.
func (f *FSM) GetKV(key string) (*placementpb.KeyValue, error) {
	return get(f.db, kvKey(key), newKV(), "kv", key)
}

// ListKV returns the entries whose key starts with prefix, in key order, at
// most limit of them (limit <= 0 = all).
func (f *FSM) ListKV(prefix string, limit int) ([]*placementpb.KeyValue, error) {
	kvs, err := list(f.db, kvKey(prefix), newKV, nil, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("fsm: list kv %q: %w", prefix, err)
	}
	return kvs, nil
}

// GetTenant returns the named tenant.
func (f *FSM) GetTenant(name string) (*placementpb.Tenant, error) {
	if validateTenantName("name", name) != nil {
		return nil, rpcerr.NotFound("tenant", name)
	}
	return get(f.db, tenantKey(name), newTenant(), "tenant", name)
}

// ListTenants returns every tenant by name, "default" included.
func (f *FSM) ListTenants() ([]*placementpb.Tenant, error) {
	tenants, err := list(f.db, []byte(prefixTenant), newTenant, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("fsm: list tenants: %w", err)
	}
	return tenants, nil
}

// GetUser returns a user of a tenant.
func (f *FSM) GetUser(tenant, name string) (*placementpb.User, error) {
	if validateTenantName("tenant", tenant) != nil {
		return nil, rpcerr.NotFound("user", tenant+"/"+name)
	}
	return get(f.db, userKey(tenant, name), newUser(), "user", tenant+"/"+name)
}

// ListUsers returns the users of tenant by name; NotFound when the tenant
// does not exist.
func (f *FSM) ListUsers(tenant string) ([]*placementpb.User, error) {
	if _, err := f.GetTenant(tenant); err != nil {
		return nil, err
	}
	users, err := list(f.db, userPrefix(tenant), newUser, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("fsm: list users of %q: %w", tenant, err)
	}
	return users, nil
}

// ListAcls returns the ACL rules of tenant by id; NotFound when the tenant
// does not exist.
func (f *FSM) ListAcls(tenant string) ([]*placementpb.AclRule, error) {
	if _, err := f.GetTenant(tenant); err != nil {
		return nil, err
	}
	rules, err := list(f.db, aclPrefix(tenant), newACL, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("fsm: list acls of %q: %w", tenant, err)
	}
	return rules, nil
}

// GetShard returns a shard.
func (f *FSM) GetShard(tenant, name string) (*placementpb.Shard, error) {
	if validateTenantName("tenant", tenant) != nil {
		return nil, rpcerr.NotFound("shard", tenant+"/"+name)
	}
	return get(f.db, shardKey(tenant, name), newShard(), "shard", tenant+"/"+name)
}

// ListShards returns the shards of tenant whose name starts with prefix,
// ordered by tenant then name. tenant "" lists all tenants; a named tenant
// that does not exist is NotFound.
func (f *FSM) ListShards(tenant, prefix string) ([]*placementpb.Shard, error) {
	if tenant == "" {
		shards, err := list(f.db, []byte(prefixShard), newShard, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("fsm: list shards: %w", err)
		}
		out := shards[:0]
		for _, s := range shards {
			if strings.HasPrefix(s.GetName(), prefix) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	if _, err := f.GetTenant(tenant); err != nil {
		return nil, err
	}
	shards, err := list(f.db, shardKey(tenant, prefix), newShard, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("fsm: list shards of %q: %w", tenant, err)
	}
	return shards, nil
}

// ListSegments returns the segments of a shard by seq; NotFound when the
// shard does not exist.
func (f *FSM) ListSegments(tenant, shard string) ([]*placementpb.Segment, error) {
	_, segs, err := f.GetShardWithSegments(tenant, shard)
	return segs, err
}

// GetShardWithSegments returns a shard and its segments as of one applied
// batch (read from one Pebble snapshot).
func (f *FSM) GetShardWithSegments(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, error) {
	if validateTenantName("tenant", tenant) != nil {
		return nil, nil, rpcerr.NotFound("shard", tenant+"/"+name)
	}
	snap := f.db.NewSnapshot()
	defer snap.Close()
	shard, err := get(snap, shardKey(tenant, name), newShard(), "shard", tenant+"/"+name)
	if err != nil {
		return nil, nil, err
	}
	segs, err := segmentsOf(snap, tenant, name)
	if err != nil {
		return nil, nil, fmt.Errorf("fsm: list segments of %s/%s: %w", tenant, name, err)
	}
	return shard, segs, nil
}

// GetSegment returns one segment of a shard.
func (f *FSM) GetSegment(tenant, shard string, seq uint32) (*placementpb.Segment, error) {
	name := segmentName(tenant, shard, seq)
	if validateTenantName("tenant", tenant) != nil {
		return nil, rpcerr.NotFound("segment", name)
	}
	return get(f.db, segmentKey(tenant, shard, seq), newSegment(), "segment", name)
}
