package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(index, term uint64, data string) *raftpb.Entry {
	e := &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryNormal.Enum()}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func snapshot(t *testing.T, index, term uint64, voters []uint64, m Membership, smData string) *raftpb.Snapshot {
	t.Helper()
	data, err := SnapshotData{Membership: m, StateMachine: []byte(smData)}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index: new(index), Term: new(term),
			ConfState: raftpb.EnsureConfState(&raftpb.ConfState{Voters: voters}),
		},
	}
}

func openMem(t *testing.T, fs vfs.FS, hook func(string) error) *Store {
	t.Helper()
	s, err := Open("/data", Options{FS: fs, CrashHook: hook})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore3to5 returns a store with log start (3, term 3) and entries 4, 5
// (terms 4, 5): the shape raft's MemoryStorage tests use.
func newStore3to5(t *testing.T) *Store {
	t.Helper()
	s := openMem(t, vfs.NewMem(), nil)
	if err := s.ApplySnapshot(snapshot(t, 3, 3, []uint64{1}, Membership{}, "")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(nil, []*raftpb.Entry{ent(4, 4, ""), ent(5, 5, "")}, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTerm(t *testing.T) {
	s := newStore3to5(t)
	cases := []struct {
		i       uint64
		term    uint64
		wantErr error
	}{
		{2, 0, raft.ErrCompacted},
		{3, 3, nil},
		{4, 4, nil},
		{5, 5, nil},
		{6, 0, raft.ErrUnavailable},
	}
	for _, c := range cases {
		term, err := s.Term(c.i)
		if !errors.Is(err, c.wantErr) || term != c.term {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", c.i, term, err, c.term, c.wantErr)
		}
	}
}

func TestEntries(t *testing.T) {
	s := newStore3to5(t)
	if err := s.Save(nil, []*raftpb.Entry{ent(6, 6, "")}, nil); err != nil {
		t.Fatal(err)
	}
	size := uint64(proto.Size(ent(4, 4, "")))
	cases := []struct {
		lo, hi, maxSize uint64
		wantErr         error
		want            []uint64 // indexes
	}{
		{2, 6, ^uint64(0), raft.ErrCompacted, nil},
		{3, 4, ^uint64(0), raft.ErrCompacted, nil},
		{4, 5, ^uint64(0), nil, []uint64{4}},
		{4, 6, ^uint64(0), nil, []uint64{4, 5}},
		{4, 7, ^uint64(0), nil, []uint64{4, 5, 6}},
		// At least one entry even if it alone exceeds maxSize.
		{4, 7, 0, nil, []uint64{4}},
		{4, 7, size * 2, nil, []uint64{4, 5}},
		{4, 7, size*3 - 1, nil, []uint64{4, 5}},
		{4, 7, size * 3, nil, []uint64{4, 5, 6}},
		{4, 8, ^uint64(0), raft.ErrUnavailable, nil},
	}
	for _, c := range cases {
		got, err := s.Entries(c.lo, c.hi, c.maxSize)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("Entries(%d,%d,%d) err = %v, want %v", c.lo, c.hi, c.maxSize, err, c.wantErr)
			continue
		}
		var idx []uint64
		for _, e := range got {
			idx = append(idx, e.GetIndex())
		}
		if fmt.Sprint(idx) != fmt.Sprint(c.want) {
			t.Errorf("Entries(%d,%d,%d) = %v, want %v", c.lo, c.hi, c.maxSize, idx, c.want)
		}
	}
}

func TestEmptyStore(t *testing.T) {
	s := openMem(t, vfs.NewMem(), nil)
	if !s.IsEmpty() {
		t.Fatal("fresh store not empty")
	}
	hs, cs, err := s.InitialState()
	if err != nil || !raft.IsEmptyHardState(hs) || len(cs.GetVoters()) != 0 {
		t.Fatalf("InitialState = %v %v %v", hs, cs, err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 1 || last != 0 {
		t.Fatalf("first, last = %d, %d; want 1, 0", first, last)
	}
	if _, err := s.Entries(1, 1, 100); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Entries on empty log: %v", err)
	}
	if term, err := s.Term(0); err != nil || term != 0 {
		t.Fatalf("Term(0) = %d, %v", term, err)
	}
	snap, err := s.Snapshot()
	if err != nil || !raft.IsEmptySnap(snap) {
		t.Fatalf("Snapshot = %v, %v", snap, err)
	}
}

func TestCompact(t *testing.T) {
	cases := []struct {
		index     uint64
		wantErr   error
		wantFirst uint64
		wantTerm  uint64 // Term(index) after compaction
	}{
		{2, raft.ErrCompacted, 4, 3},
		{3, raft.ErrCompacted, 4, 3},
		{4, nil, 5, 4},
		{5, nil, 6, 5},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.index), func(t *testing.T) {
			s := newStore3to5(t)
			err := s.Compact(c.index)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Compact(%d) = %v, want %v", c.index, err, c.wantErr)
			}
			first, _ := s.FirstIndex()
			if first != c.wantFirst {
				t.Fatalf("first = %d, want %d", first, c.wantFirst)
			}
			if c.wantErr == nil {
				if term, err := s.Term(c.index); err != nil || term != c.wantTerm {
					t.Fatalf("Term(%d) = %d, %v", c.index, term, err)
				}
				if _, err := s.Entries(c.index, c.index+1, 100); !errors.Is(err, raft.ErrCompacted) {
					t.Fatalf("Entries at compacted index: %v", err)
				}
			}
		})
	}
	s := newStore3to5(t)
	if err := s.Compact(6); err == nil {
		t.Fatal("Compact beyond last index succeeded")
	}
}

func TestCreateSnapshot(t *testing.T) {
	s := newStore3to5(t)
	m := Membership{MaxID: 3}.WithMember(1, "a:1").WithMember(3, "c:3")
	data, err := SnapshotData{Membership: m, StateMachine: []byte("state")}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cs := &raftpb.ConfState{Voters: []uint64{1, 3}}
	cases := []struct {
		index    uint64
		wantErr  error
		wantTerm uint64
	}{
		{3, raft.ErrSnapOutOfDate, 0},
		{4, nil, 4},
		{4, raft.ErrSnapOutOfDate, 0}, // no longer newer
		{5, nil, 5},
	}
	for _, c := range cases {
		snap, err := s.CreateSnapshot(c.index, cs, data)
		if !errors.Is(err, c.wantErr) {
			t.Fatalf("CreateSnapshot(%d) = %v, want %v", c.index, err, c.wantErr)
		}
		if err != nil {
			continue
		}
		if snap.GetMetadata().GetIndex() != c.index || snap.GetMetadata().GetTerm() != c.wantTerm {
			t.Fatalf("snapshot meta = %v", snap.GetMetadata())
		}
		got, _ := s.Snapshot()
		if !proto.Equal(got, snap) {
			t.Fatalf("Snapshot() = %v, want %v", got, snap)
		}
	}
	if _, err := s.CreateSnapshot(9, cs, data); err == nil {
		t.Fatal("snapshot beyond last index succeeded")
	}
	got, _ := s.Snapshot()
	env, err := UnmarshalSnapshotData(got.GetData())
	if err != nil || string(env.StateMachine) != "state" || env.Membership.MaxID != 3 || len(env.Membership.Members) != 2 {
		t.Fatalf("envelope = %+v, %v", env, err)
	}
	// CreateSnapshot leaves the log alone.
	if first, _ := s.FirstIndex(); first != 4 {
		t.Fatalf("first = %d after CreateSnapshot", first)
	}
}

func TestSaveTruncatesConflictingTail(t *testing.T) {
	cases := []struct {
		name    string
		entries []*raftpb.Entry
		wantErr bool
		want    []uint64 // terms of 4..last
	}{
		{"same", []*raftpb.Entry{ent(4, 4, ""), ent(5, 5, "")}, false, []uint64{4, 5}},
		{"overwrite tail", []*raftpb.Entry{ent(4, 4, ""), ent(5, 6, "")}, false, []uint64{4, 6}},
		{"shorter overwrite", []*raftpb.Entry{ent(4, 6, "")}, false, []uint64{6}},
		{"extend", []*raftpb.Entry{ent(6, 5, "")}, false, []uint64{4, 5, 5}},
		{"compacted prefix dropped", []*raftpb.Entry{ent(2, 3, ""), ent(3, 3, ""), ent(4, 5, "")}, false, []uint64{5}},
		{"gap", []*raftpb.Entry{ent(7, 5, "")}, true, []uint64{4, 5}},
		{"not contiguous", []*raftpb.Entry{ent(4, 4, ""), ent(6, 4, "")}, true, []uint64{4, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore3to5(t)
			err := s.Save(nil, c.entries, nil)
			if (err != nil) != c.wantErr {
				t.Fatalf("Save err = %v, wantErr %v", err, c.wantErr)
			}
			last, _ := s.LastIndex()
			var terms []uint64
			for i := uint64(4); i <= last; i++ {
				term, err := s.Term(i)
				if err != nil {
					t.Fatal(err)
				}
				terms = append(terms, term)
			}
			if fmt.Sprint(terms) != fmt.Sprint(c.want) {
				t.Fatalf("terms = %v, want %v", terms, c.want)
			}
			ents, err := s.Entries(4, last+1, ^uint64(0))
			if err != nil || uint64(len(ents)) != last-3 {
				t.Fatalf("Entries = %d entries, %v", len(ents), err)
			}
		})
	}
}

func TestSaveRejectsCommitBeyondLog(t *testing.T) {
	s := newStore3to5(t)
	if err := s.Save(hardState(5, 1, 6), nil, nil); err == nil {
		t.Fatal("commit beyond last index accepted")
	}
	if err := s.Save(hardState(5, 1, 6), []*raftpb.Entry{ent(6, 5, "")}, nil); err != nil {
		t.Fatalf("commit with its entry rejected: %v", err)
	}
}

func TestApplySnapshot(t *testing.T) {
	s := newStore3to5(t)
	m := Membership{}.WithMember(1, "a:1").WithMember(2, "b:2")
	if err := s.ApplySnapshot(snapshot(t, 3, 3, nil, m, "")); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("old snapshot: %v", err)
	}
	if err := s.ApplySnapshot(snapshot(t, 10, 7, []uint64{1, 2}, m, "sm")); err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 11 || last != 10 {
		t.Fatalf("first, last = %d, %d", first, last)
	}
	if term, _ := s.Term(10); term != 7 {
		t.Fatalf("Term(10) = %d", term)
	}
	_, cs, _ := s.InitialState()
	if fmt.Sprint(cs.GetVoters()) != "[1 2]" {
		t.Fatalf("conf state = %v", cs)
	}
	if got := s.Membership(); len(got.Members) != 2 || got.MaxID != 2 {
		t.Fatalf("membership = %+v", got)
	}
	if err := s.Save(nil, nil, &raftpb.Snapshot{Data: []byte{0xff}, Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(8))}}); err == nil {
		t.Fatal("snapshot with a malformed envelope accepted")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	m := Membership{}.WithMember(1, "a:1").WithMember(5, "e:5").WithoutMember(5)
	steps := []func() error{
		func() error { return s.ApplySnapshot(snapshot(t, 3, 2, []uint64{1}, m, "x")) },
		func() error {
			return s.Save(hardState(3, 1, 5), []*raftpb.Entry{ent(4, 3, "a"), ent(5, 3, "b"), ent(6, 3, "c")}, nil)
		},
		func() error { return s.Compact(4) },
		func() error { return s.SetConfState(&raftpb.ConfState{Voters: []uint64{1, 6}}, m.WithMember(6, "f:6")) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openMem(t, fs, nil)
	hs, cs, _ := r.InitialState()
	if !proto.Equal(hs, hardState(3, 1, 5)) || fmt.Sprint(cs.GetVoters()) != "[1 6]" {
		t.Fatalf("initial state = %v, %v", hs, cs)
	}
	first, _ := r.FirstIndex()
	last, _ := r.LastIndex()
	if first != 5 || last != 6 {
		t.Fatalf("first, last = %d, %d", first, last)
	}
	ents, err := r.Entries(5, 7, ^uint64(0))
	if err != nil || len(ents) != 2 || string(ents[0].GetData()) != "b" || string(ents[1].GetData()) != "c" {
		t.Fatalf("entries = %v, %v", ents, err)
	}
	got := r.Membership()
	if got.MaxID != 6 || got.Contains(5) || !got.Contains(6) {
		t.Fatalf("membership = %+v", got)
	}
	if r.SnapshotIndex() != 3 || r.IsEmpty() {
		t.Fatalf("snapshot index %d, empty %v", r.SnapshotIndex(), r.IsEmpty())
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	cases := []SnapshotData{
		{},
		{StateMachine: []byte("only data")},
		{Membership: Membership{MaxID: 9}.WithMember(2, "b:2").WithMember(1, "a:1")},
	}
	for i, c := range cases {
		raw, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalSnapshotData(raw)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(got.StateMachine, c.StateMachine) || got.Membership.MaxID != c.Membership.MaxID ||
			len(got.Membership.Members) != len(c.Membership.Members) {
			t.Fatalf("case %d: got %+v want %+v", i, got, c)
		}
		for j, mem := range got.Membership.Members {
			if !proto.Equal(mem, c.Membership.Members[j]) {
				t.Fatalf("case %d member %d: %v", i, j, mem)
			}
		}
	}
	if ms := (Membership{}).WithMember(3, "c").WithMember(1, "a").Members; ms[0].GetId() != 1 {
		t.Fatalf("members not sorted: %v", ms)
	}
	if _, err := UnmarshalSnapshotData([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Fatal("truncated envelope accepted")
	}
}
