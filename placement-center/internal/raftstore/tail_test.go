package raftstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// checkAgainstModel compares every Entries and Term answer of s with the
// model's, for every range within the model's log and a few size limits.
func checkAgainstModel(t *testing.T, step string, s *Store, ms *raft.MemoryStorage) {
	t.Helper()
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	if got, _ := s.LastIndex(); got != last {
		t.Fatalf("%s: LastIndex %d, model %d", step, got, last)
	}
	if got, _ := s.FirstIndex(); got != first {
		t.Fatalf("%s: FirstIndex %d, model %d", step, got, first)
	}
	for i := first - 1; i <= last+1; i++ {
		got, gerr := s.Term(i)
		want, werr := ms.Term(i)
		if got != want || (gerr == nil) != (werr == nil) || (werr != nil && !errors.Is(gerr, werr)) {
			t.Fatalf("%s: Term(%d) = %d, %v; model %d, %v", step, i, got, gerr, want, werr)
		}
	}
	for lo := first; lo <= last; lo++ {
		for hi := lo + 1; hi <= last+1; hi++ {
			for _, maxSize := range []uint64{0, 200, ^uint64(0)} {
				got, err := s.Entries(lo, hi, maxSize)
				if err != nil {
					t.Fatalf("%s: Entries(%d,%d,%d): %v", step, lo, hi, maxSize, err)
				}
				want, err := ms.Entries(lo, hi, maxSize)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: Entries(%d,%d,%d) has %d entries, model %d", step, lo, hi, maxSize, len(got), len(want))
				}
				for k := range got {
					if !proto.Equal(got[k], want[k]) {
						t.Fatalf("%s: Entries(%d,%d,%d)[%d] = %v, model %v", step, lo, hi, maxSize, k, got[k], want[k])
					}
				}
			}
		}
	}
}

// TestTailCacheMatchesModel drives the store through random appends that
// overwrite the tail, compactions and snapshots, with a tiny cache so that
// reads straddle the cache and Pebble, and checks every read against
// raft.MemoryStorage, then again after reopening (empty cache).
func TestTailCacheMatchesModel(t *testing.T) {
	oldEntries, oldBytes := maxTailEntries, maxTailBytes
	maxTailEntries, maxTailBytes = 7, 1500
	t.Cleanup(func() { maxTailEntries, maxTailBytes = oldEntries, oldBytes })

	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			fs := vfs.NewMem()
			s, err := Open("/data", Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			ms := raft.NewMemoryStorage()
			term := uint64(1)
			for step := 0; step < 60; step++ {
				first, _ := ms.FirstIndex()
				last, _ := ms.LastIndex()
				name := fmt.Sprintf("step %d", step)
				switch r := rng.IntN(10); {
				case r < 7: // append, sometimes overwriting part of the tail
					from := last + 1
					if last >= first && rng.IntN(3) == 0 {
						from = first + rng.Uint64N(last-first+1)
						term++
					}
					var ents []*raftpb.Entry
					for i := from; i < from+1+rng.Uint64N(5); i++ {
						ents = append(ents, ent(i, term, fmt.Sprintf("v%d-%d-%s", i, term, make([]byte, rng.IntN(300)))))
					}
					if err := s.Save(nil, ents, nil); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if err := ms.Append(ents); err != nil {
						t.Fatal(err)
					}
				case r < 9: // compact
					if last < first {
						continue
					}
					to := first + rng.Uint64N(last-first+1)
					if err := s.Compact(to); err != nil {
						t.Fatalf("%s: compact %d: %v", name, to, err)
					}
					if err := ms.Compact(to); err != nil {
						t.Fatal(err)
					}
				default: // snapshot from the leader, ahead of the log
					idx := last + 1 + rng.Uint64N(3)
					term++
					snap := snapshot(t, idx, term, []uint64{1}, Membership{}, "")
					if err := s.ApplySnapshot(snap); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if err := ms.ApplySnapshot(snap); err != nil {
						t.Fatal(err)
					}
				}
				checkAgainstModel(t, name, s, ms)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			r := openMem(t, fs, nil)
			checkAgainstModel(t, "reopened", r, ms)
		})
	}
}

// TestSaveReadySync checks which Ready batches survive a crash: a
// commit-only HardState change may be lost when not synced, anything with
// entries, a new term or vote, or mustSync survives.
func TestSaveReadySync(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openMem(t, fs, nil)
	if err := s.SaveReady(hardState(2, 1, 0), []*raftpb.Entry{ent(1, 2, "a"), ent(2, 2, "b")}, nil, true); err != nil {
		t.Fatal(err)
	}
	// mustSync false is ignored for entries and for a term/vote change.
	if err := s.SaveReady(nil, []*raftpb.Entry{ent(3, 2, "c")}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReady(hardState(3, 2, 1), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	// Commit-only: not synced.
	if err := s.SaveReady(hardState(3, 2, 3), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := s.HardState().GetCommit(); got != 3 {
		t.Fatalf("commit in memory %d, want 3", got)
	}
	r := openMem(t, fs.CrashClone(vfs.CrashCloneCfg{}), nil)
	hs := r.HardState()
	if hs.GetTerm() != 3 || hs.GetVote() != 2 || hs.GetCommit() != 1 {
		t.Fatalf("after crash hard state %v, want term 3 vote 2 commit 1 (the unsynced commit lost)", hs)
	}
	if last, _ := r.LastIndex(); last != 3 {
		t.Fatalf("after crash last index %d, want 3", last)
	}
	// RaiseCommit repairs a commit behind what was applied, durably.
	if err := r.RaiseCommit(1); err != nil { // no-op
		t.Fatal(err)
	}
	if err := r.RaiseCommit(3); err != nil {
		t.Fatal(err)
	}
	if err := r.RaiseCommit(4); err == nil {
		t.Fatal("RaiseCommit beyond the last index accepted")
	}
	hs = r.HardState()
	if hs.GetTerm() != 3 || hs.GetVote() != 2 || hs.GetCommit() != 3 {
		t.Fatalf("after RaiseCommit hard state %v", hs)
	}

	// An unsynced commit becomes durable with the next synced batch.
	fs2 := vfs.NewCrashableMem()
	s2 := openMem(t, fs2, nil)
	if err := s2.SaveReady(hardState(1, 1, 0), []*raftpb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := s2.SaveReady(hardState(1, 1, 2), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s2.SaveReady(nil, []*raftpb.Entry{ent(3, 1, "c")}, nil, true); err != nil {
		t.Fatal(err)
	}
	r2 := openMem(t, fs2.CrashClone(vfs.CrashCloneCfg{}), nil)
	if got := r2.HardState().GetCommit(); got != 2 {
		t.Fatalf("commit %d after a later synced batch, want 2", got)
	}
}

// TestDeferredCommitWrittenOnClose: a commit-only HardState kept in memory
// reaches the disk when the store is closed.
func TestDeferredCommitWrittenOnClose(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReady(hardState(1, 1, 0), []*raftpb.Entry{ent(1, 1, "a"), ent(2, 1, "b")}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReady(hardState(1, 1, 2), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openMem(t, fs, nil)
	if hs := r.HardState(); hs.GetCommit() != 2 || hs.GetTerm() != 1 || hs.GetVote() != 1 {
		t.Fatalf("hard state after close %v, want commit 2", hs)
	}
}

// TestSnapshotFile: a snapshot this member takes keeps its data in a file
// of its own that survives a crash once CreateSnapshot returned, replaces
// the previous file, is dropped when a snapshot from the leader is
// installed, and stray files are removed on open.
func TestSnapshotFile(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openMem(t, fs, nil)
	if err := s.Save(hardState(1, 1, 5), entries(1, 5, 1, "e"), nil); err != nil {
		t.Fatal(err)
	}
	m := Membership{MaxID: 1}.WithMember(1, "a:1")
	for i, state := range []string{"state-3", "state-5"} {
		data, err := SnapshotData{Membership: m, StateMachine: []byte(state)}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSnapshot(uint64(3+2*i), &raftpb.ConfState{Voters: []uint64{1}}, data); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := fs.List("/data/" + snapshotDir)
	if len(files) != 1 {
		t.Fatalf("snapshot files %v, want the latest only", files)
	}
	// A stray file, as a crash before the reference committed leaves.
	f, err := fs.Create("/data/"+snapshotDir+"/snap-stray.data", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Sync()
	_ = f.Close()
	_ = s.syncDir()

	check := func(r *Store, wantIndex uint64, wantState string) {
		t.Helper()
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		env, err := UnmarshalSnapshotData(snap.GetData())
		if err != nil || snap.GetMetadata().GetIndex() != wantIndex || string(env.StateMachine) != wantState || env.Membership.MaxID != 1 {
			t.Fatalf("snapshot %d %q (%v), want %d %q", snap.GetMetadata().GetIndex(), env.StateMachine, err, wantIndex, wantState)
		}
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	r := openMem(t, crashed, nil)
	check(r, 5, "state-5")
	if files, _ := crashed.List("/data/" + snapshotDir); len(files) != 1 {
		t.Fatalf("after open snapshot files %v, want the referenced one only", files)
	}

	// Installing a leader's snapshot keeps it inline and drops the file.
	inst := snapshot(t, 9, 2, []uint64{1}, m, "leader-9")
	if err := r.ApplySnapshot(inst); err != nil {
		t.Fatal(err)
	}
	if files, _ := crashed.List("/data/" + snapshotDir); len(files) != 0 {
		t.Fatalf("snapshot files %v after installing the leader's", files)
	}
	check(r, 9, "leader-9")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	check(openMem(t, crashed, nil), 9, "leader-9")
}
