package fsm

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// effects are the staged writes and events of one command. Handlers stage
// everything and write nothing, so a command rejected half-way leaves no
// trace; Apply copies the effects into the batch only on success.
type effects struct {
	writes []stagedWrite
	events []*placementpb.WatchEvent
}

type stagedWrite struct {
	key    []byte
	value  []byte
	delete bool
}

// put stages m at key and a PUT event carrying a copy of m, so later changes
// to m by the handler cannot reach watchers.
func (e *effects) put(index uint64, key []byte, m proto.Message) error {
	v, err := marshal(m)
	if err != nil {
		return err
	}
	e.writes = append(e.writes, stagedWrite{key: key, value: v})
	e.events = append(e.events, watchEvent(index, placementpb.EventType_EVENT_TYPE_PUT, m))
	return nil
}

// del stages the deletion of key and a DELETE event carrying last, the last
// stored version of the object.
func (e *effects) del(index uint64, key []byte, last proto.Message) {
	e.writes = append(e.writes, stagedWrite{key: key, delete: true})
	e.events = append(e.events, watchEvent(index, placementpb.EventType_EVENT_TYPE_DELETE, last))
}

// setCounter stages a meta counter; counters are not watched.
func (e *effects) setCounter(key []byte, v uint64) {
	e.writes = append(e.writes, stagedWrite{key: key, value: be64(v)})
}

func (e *effects) writeTo(b *pebble.Batch) error {
	for _, w := range e.writes {
		var err error
		if w.delete {
			err = b.Delete(w.key, nil)
		} else {
			err = b.Set(w.key, w.value, nil)
		}
		if err != nil {
			return &storageError{fmt.Errorf("stage %q: %w", w.key, err)}
		}
	}
	return nil
}

// watchEvent wraps a copy of m in a WatchEvent of the matching kind.
func watchEvent(index uint64, typ placementpb.EventType, m proto.Message) *placementpb.WatchEvent {
	ev := &placementpb.WatchEvent{Revision: index, Type: typ}
	switch o := proto.Clone(m).(type) {
	case *placementpb.ClusterNode:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_NODE, &placementpb.WatchEvent_Node{Node: o}
	case *placementpb.Shard:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_SHARD, &placementpb.WatchEvent_Shard{Shard: o}
	case *placementpb.Segment:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_SEGMENT, &placementpb.WatchEvent_Segment{Segment: o}
	case *placementpb.Tenant:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_TENANT, &placementpb.WatchEvent_Tenant{Tenant: o}
	case *placementpb.User:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_USER, &placementpb.WatchEvent_User{User: o}
	case *placementpb.AclRule:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_ACL, &placementpb.WatchEvent_Acl{Acl: o}
	case *placementpb.KeyValue:
		ev.Kind, ev.Object = placementpb.ResourceKind_RESOURCE_KIND_KV, &placementpb.WatchEvent_Kv{Kv: o}
	}
	return ev
}
