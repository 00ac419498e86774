package raftstore

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Membership is the set of voters with their gRPC addresses, plus the
// highest member id ever assigned, so that a removed member's id is never
// handed out again.
type Membership struct {
	// Members is sorted by id.
	Members []*placementpb.Member
	MaxID   uint64
}

// Clone returns a deep copy, so callers can hand it out without sharing
// the Member messages.
func (m Membership) Clone() Membership {
	out := Membership{MaxID: m.MaxID, Members: make([]*placementpb.Member, 0, len(m.Members))}
	for _, mem := range m.Members {
		out.Members = append(out.Members, &placementpb.Member{Id: mem.GetId(), Addr: mem.GetAddr()})
	}
	return out
}

// Addr returns the address of member id.
func (m Membership) Addr(id uint64) (string, bool) {
	for _, mem := range m.Members {
		if mem.GetId() == id {
			return mem.GetAddr(), true
		}
	}
	return "", false
}

// Contains reports whether id is a member.
func (m Membership) Contains(id uint64) bool {
	_, ok := m.Addr(id)
	return ok
}

// WithMember returns a copy with id set to addr (added or updated) and MaxID
// raised to at least id.
func (m Membership) WithMember(id uint64, addr string) Membership {
	out := m.Clone()
	idx := slices.IndexFunc(out.Members, func(x *placementpb.Member) bool { return x.GetId() == id })
	if idx >= 0 {
		out.Members[idx].Addr = addr
	} else {
		out.Members = append(out.Members, &placementpb.Member{Id: id, Addr: addr})
		slices.SortFunc(out.Members, func(a, b *placementpb.Member) int {
			switch {
			case a.GetId() < b.GetId():
				return -1
			case a.GetId() > b.GetId():
				return 1
			}
			return 0
		})
	}
	out.MaxID = max(out.MaxID, id)
	return out
}

// WithoutMember returns a copy without id; MaxID is kept so id is never
// reused.
func (m Membership) WithoutMember(id uint64) Membership {
	out := m.Clone()
	out.Members = slices.DeleteFunc(out.Members, func(x *placementpb.Member) bool { return x.GetId() == id })
	out.MaxID = max(out.MaxID, id)
	return out
}

// Wire format of Membership, protobuf-compatible so fields can be added:
//
//	1: max_id (varint)
//	2: member (bytes, a marshalled placementpb.Member), repeated
const (
	membershipFieldMaxID  protowire.Number = 1
	membershipFieldMember protowire.Number = 2
)

// Marshal encodes m.
func (m Membership) Marshal() ([]byte, error) {
	var b []byte
	b = protowire.AppendTag(b, membershipFieldMaxID, protowire.VarintType)
	b = protowire.AppendVarint(b, m.MaxID)
	for _, mem := range m.Members {
		raw, err := proto.Marshal(mem)
		if err != nil {
			return nil, fmt.Errorf("marshal member %d: %w", mem.GetId(), err)
		}
		b = protowire.AppendTag(b, membershipFieldMember, protowire.BytesType)
		b = protowire.AppendBytes(b, raw)
	}
	return b, nil
}

// errMalformed reports bytes that are not one of this package's encodings.
var errMalformed = errors.New("raftstore: malformed encoding")

// UnmarshalMembership decodes what Membership.Marshal produced. Unknown
// fields are skipped.
func UnmarshalMembership(b []byte) (Membership, error) {
	var m Membership
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch {
		case num == membershipFieldMaxID && typ == protowire.VarintType:
			m.MaxID = v
		case num == membershipFieldMember && typ == protowire.BytesType:
			mem := &placementpb.Member{}
			if err := proto.Unmarshal(raw, mem); err != nil {
				return fmt.Errorf("member: %w", err)
			}
			m = m.WithMember(mem.GetId(), mem.GetAddr())
		}
		return nil
	})
	if err != nil {
		return Membership{}, fmt.Errorf("membership: %w", err)
	}
	return m, nil
}

// SnapshotData is the envelope stored as raftpb.Snapshot.Data: the
// membership as of the snapshot index next to the state machine's own bytes.
type SnapshotData struct {
	Membership   Membership
	StateMachine []byte
}

// Wire format of SnapshotData:
//
//	1: membership (bytes, Membership.Marshal)
//	2: state_machine (bytes)
const (
	snapshotFieldMembership   protowire.Number = 1
	snapshotFieldStateMachine protowire.Number = 2
)

// Marshal encodes d.
func (d SnapshotData) Marshal() ([]byte, error) {
	mem, err := d.Membership.Marshal()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(mem)+len(d.StateMachine)+16)
	b = protowire.AppendTag(b, snapshotFieldMembership, protowire.BytesType)
	b = protowire.AppendBytes(b, mem)
	b = protowire.AppendTag(b, snapshotFieldStateMachine, protowire.BytesType)
	b = protowire.AppendBytes(b, d.StateMachine)
	return b, nil
}

// UnmarshalSnapshotData decodes what SnapshotData.Marshal produced.
func UnmarshalSnapshotData(b []byte) (SnapshotData, error) {
	var d SnapshotData
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, _ uint64, raw []byte) error {
		switch {
		case num == snapshotFieldMembership && typ == protowire.BytesType:
			m, err := UnmarshalMembership(raw)
			if err != nil {
				return err
			}
			d.Membership = m
		case num == snapshotFieldStateMachine && typ == protowire.BytesType:
			d.StateMachine = raw
		}
		return nil
	})
	if err != nil {
		return SnapshotData{}, fmt.Errorf("snapshot envelope: %w", err)
	}
	return d, nil
}

// walkFields calls fn for every field of a protobuf-encoded message: v is
// the value of varint fields, raw the payload of bytes fields.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", errMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v   uint64
			raw []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", errMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, raw); err != nil {
			return err
		}
	}
	return nil
}
