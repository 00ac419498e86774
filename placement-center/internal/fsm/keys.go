package fsm

import (
	"encoding/binary"
	"strings"
)

// Key prefixes; see doc.go for the layout.
const (
	prefixNode    = "node/"
	prefixShard   = "shard/"
	prefixSegment = "segment/"
	prefixTenant  = "tenant/"
	prefixUser    = "user/"
	prefixACL     = "acl/"
	prefixKV      = "kv/"

	keyAppliedIndex  = "meta/applied_index"
	prefixNextACLID  = "meta/next_acl_id/"
	keyMaxNodeID     = "meta/max_node_id"
	seqSuffixLength  = 8
	idSuffixLength   = 8
	maxTenantNameLen = 256
)

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func join(parts ...string) []byte {
	return []byte(strings.Join(parts, ""))
}

func nodeKey(id uint64) []byte { return append([]byte(prefixNode), be64(id)...) }

func shardPrefix(tenant string) []byte { return join(prefixShard, tenant, "/") }

func shardKey(tenant, name string) []byte { return join(prefixShard, tenant, "/", name) }

func segmentPrefix(tenant, shard string) []byte {
	return join(prefixSegment, tenant, "/", shard, "/")
}

func segmentKey(tenant, shard string, seq uint32) []byte {
	return append(segmentPrefix(tenant, shard), be64(uint64(seq))...)
}

func tenantKey(name string) []byte { return join(prefixTenant, name) }

func userPrefix(tenant string) []byte { return join(prefixUser, tenant, "/") }

func userKey(tenant, name string) []byte { return join(prefixUser, tenant, "/", name) }

func aclPrefix(tenant string) []byte { return join(prefixACL, tenant, "/") }

func aclKey(tenant string, id uint64) []byte { return append(aclPrefix(tenant), be64(id)...) }

func kvKey(key string) []byte { return join(prefixKV, key) }

func nextACLIDKey(tenant string) []byte { return join(prefixNextACLID, tenant) }

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil when there is none (a prefix of only 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// FirstAssignedNodeID is the smallest node id the placement center assigns
// to a node that registers without one (brokers with node_id 0). Ids below
// it are for operators to configure (journal nodes, fixed brokers); ids
// are never reused.
const FirstAssignedNodeID = 1 << 20
