package raftstore

import (
	"errors"
	"fmt"
	"io"
	"log"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var errInjected = errors.New("injected crash")

// crashAt returns a hook that fails the n-th (1-based) call at point.
func crashAt(point string, n int) func(string) error {
	seen := 0
	return func(p string) error {
		if p != point {
			return nil
		}
		seen++
		if seen == n {
			return errInjected
		}
		return nil
	}
}

// storeOp is one step of a scripted run, applied to the store under test
// and to a raft.MemoryStorage model.
type storeOp struct {
	hs      *raftpb.HardState
	entries []*raftpb.Entry
	snap    *raftpb.Snapshot
	compact uint64
}

func (op storeOp) applyStore(s *Store) error {
	if op.compact != 0 {
		return s.Compact(op.compact)
	}
	return s.Save(op.hs, op.entries, op.snap)
}

func (op storeOp) applyModel(t *testing.T, ms *raft.MemoryStorage) {
	t.Helper()
	if op.compact != 0 {
		if err := ms.Compact(op.compact); err != nil {
			t.Fatal(err)
		}
		return
	}
	if op.snap != nil {
		if err := ms.ApplySnapshot(op.snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.Append(op.entries); err != nil {
		t.Fatal(err)
	}
	if op.hs != nil {
		if err := ms.SetHardState(op.hs); err != nil {
			t.Fatal(err)
		}
	}
}

func entries(from, to, term uint64, tag string) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(i, term, fmt.Sprintf("%s%d", tag, i)))
	}
	return out
}

func script(t *testing.T) []storeOp {
	return []storeOp{
		{hs: hardState(1, 1, 0), entries: entries(1, 3, 1, "a")},
		{hs: hardState(1, 1, 2), entries: entries(4, 5, 1, "a")},
		// A new leader overwrites the uncommitted tail.
		{hs: hardState(2, 2, 3), entries: entries(4, 6, 2, "b")},
		{hs: hardState(2, 2, 5)},
		{compact: 3},
		{entries: entries(7, 7, 2, "b")},
		// A snapshot from the leader replaces the log, with entries after it.
		{hs: hardState(3, 3, 11), snap: snapshot(t, 10, 3, []uint64{1, 2, 3}, Membership{}, "sm"), entries: entries(11, 12, 3, "c")},
		{hs: hardState(3, 3, 12), entries: entries(13, 13, 3, "c")},
	}
}

// checkMatchesModel compares every raft.Storage answer of s with ms.
func checkMatchesModel(t *testing.T, s *Store, ms *raft.MemoryStorage) {
	t.Helper()
	hs, cs, _ := s.InitialState()
	mhs, mcs, _ := ms.InitialState()
	if !raft.IsEmptyHardState(mhs) || !raft.IsEmptyHardState(hs) {
		if hs.GetTerm() != mhs.GetTerm() || hs.GetVote() != mhs.GetVote() || hs.GetCommit() != mhs.GetCommit() {
			t.Fatalf("hard state %v, model %v", hs, mhs)
		}
	}
	if fmt.Sprint(cs.GetVoters()) != fmt.Sprint(mcs.GetVoters()) {
		t.Fatalf("conf state %v, model %v", cs, mcs)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	mfirst, _ := ms.FirstIndex()
	mlast, _ := ms.LastIndex()
	if first != mfirst || last != mlast {
		t.Fatalf("first, last = %d, %d; model %d, %d", first, last, mfirst, mlast)
	}
	if hs.GetCommit() > last {
		t.Fatalf("commit %d beyond last index %d", hs.GetCommit(), last)
	}
	for i := first - 1; i <= last; i++ {
		term, err := s.Term(i)
		mterm, merr := ms.Term(i)
		if term != mterm || !errors.Is(err, merr) {
			t.Fatalf("Term(%d) = %d, %v; model %d, %v", i, term, err, mterm, merr)
		}
	}
	if last >= first {
		got, err := s.Entries(first, last+1, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ms.Entries(first, last+1, ^uint64(0))
		if len(got) != len(want) {
			t.Fatalf("%d entries, model %d", len(got), len(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("entry %v, model %v", got[i], want[i])
			}
		}
	}
	snap, _ := s.Snapshot()
	msnap, _ := ms.Snapshot()
	if snap.GetMetadata().GetIndex() != msnap.GetMetadata().GetIndex() {
		t.Fatalf("snapshot index %d, model %d", snap.GetMetadata().GetIndex(), msnap.GetMetadata().GetIndex())
	}
}

// TestScriptMatchesMemoryStorage runs the script without crashes and checks
// the store answers exactly like raft.MemoryStorage after every step and
// after a reopen.
func TestScriptMatchesMemoryStorage(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	ms := raft.NewMemoryStorage()
	for i, op := range script(t) {
		if err := op.applyStore(s); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		op.applyModel(t, ms)
		checkMatchesModel(t, s, ms)
	}
	// A crash right after the last step loses nothing: every step synced.
	r := openMem(t, fs.CrashClone(vfs.CrashCloneCfg{}), nil)
	checkMatchesModel(t, r, ms)
	_ = s.Close()
}

// TestCrashPoints crashes the scripted run at every Save's before-batch and
// after-batch point, keeps only what was synced (a crash clone of the
// file system), reopens and checks the store equals the model of the
// acknowledged steps (plus the crashed step when its batch was committed).
func TestCrashPoints(t *testing.T) {
	saves := 0
	for _, op := range script(t) {
		if op.compact == 0 {
			saves++
		}
	}
	for _, point := range []string{CrashBeforeBatch, CrashAfterBatch} {
		for n := 1; n <= saves; n++ {
			t.Run(fmt.Sprintf("%s-%d", point, n), func(t *testing.T) {
				fs := vfs.NewCrashableMem()
				s, err := Open("/data", Options{FS: fs, CrashHook: crashAt(point, n)})
				if err != nil {
					t.Fatal(err)
				}
				ms := raft.NewMemoryStorage()
				crashed := false
				for i, op := range script(t) {
					err := op.applyStore(s)
					if err == nil {
						op.applyModel(t, ms)
						continue
					}
					if !errors.Is(err, ErrCrashed) {
						t.Fatalf("step %d: %v", i, err)
					}
					if point == CrashAfterBatch {
						op.applyModel(t, ms)
					}
					crashed = true
					break
				}
				if !crashed {
					t.Fatal("crash hook never fired")
				}
				if err := s.Save(hardState(9, 9, 0), nil, nil); !errors.Is(err, ErrCrashed) {
					t.Fatalf("write after crash: %v", err)
				}
				clone := fs.CrashClone(vfs.CrashCloneCfg{})
				_ = s.Close()
				r := openMem(t, clone, nil)
				checkMatchesModel(t, r, ms)
			})
		}
	}
}

// rawNodeRun drives a single-voter raft.RawNode on s, proposing up to
// proposals commands. It returns the data of every entry whose Save
// succeeded, the highest commit index made durable, and the first Save
// error.
func rawNodeRun(t *testing.T, s *Store, fresh bool, proposals int, tag string) (acked map[uint64]string, durableCommit uint64, err error) {
	t.Helper()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, PreVote: true, CheckQuorum: true,
		Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fresh {
		if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	acked = map[uint64]string{}
	proposed := 0
	for iter := 0; iter < 10*proposals+100; iter++ {
		if rn.BasicStatus().RaftState == raft.StateLeader && proposed < proposals {
			if err := rn.Propose([]byte(fmt.Sprintf("%s%d", tag, proposed))); err != nil {
				t.Fatal(err)
			}
			proposed++
		}
		if !rn.HasReady() {
			if proposed == proposals {
				break
			}
			// Campaigning is refused while bootstrap conf changes are
			// unapplied, so it is retried once the node is idle.
			if rn.BasicStatus().RaftState != raft.StateLeader {
				if err := rn.Campaign(); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		rd := rn.Ready()
		if err := s.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
			return acked, durableCommit, err
		}
		for _, e := range rd.Entries {
			acked[e.GetIndex()] = string(e.GetData())
		}
		if rd.HardState != nil {
			durableCommit = rd.HardState.GetCommit()
		}
		for _, e := range rd.CommittedEntries {
			if e.GetType() == raftpb.EntryConfChange {
				var cc raftpb.ConfChange
				if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
					t.Fatal(err)
				}
				rn.ApplyConfChange(&cc)
			}
		}
		rn.Advance(rd)
	}
	return acked, durableCommit, nil
}

// TestCrashPointsWithRawNode runs a real raft.RawNode on the store, crashes
// it at the n-th Save, reopens from the synced state only and checks that
// every acknowledged entry and the durable commit index survived, and that
// raft restarts on the store and keeps committing.
func TestCrashPointsWithRawNode(t *testing.T) {
	for _, point := range []string{CrashBeforeBatch, CrashAfterBatch} {
		for _, n := range []int{1, 2, 3, 5, 8, 13} {
			t.Run(fmt.Sprintf("%s-%d", point, n), func(t *testing.T) {
				fs := vfs.NewCrashableMem()
				s, err := Open("/data", Options{FS: fs, CrashHook: crashAt(point, n)})
				if err != nil {
					t.Fatal(err)
				}
				acked, durableCommit, runErr := rawNodeRun(t, s, true, 20, "x")
				if !errors.Is(runErr, ErrCrashed) {
					t.Fatalf("run ended with %v, want a crash", runErr)
				}
				clone := fs.CrashClone(vfs.CrashCloneCfg{})
				_ = s.Close()

				r := openMem(t, clone, nil)
				hs, _, _ := r.InitialState()
				last, _ := r.LastIndex()
				if hs.GetCommit() > last {
					t.Fatalf("commit %d beyond last index %d", hs.GetCommit(), last)
				}
				if hs.GetCommit() < durableCommit {
					t.Fatalf("commit %d went back from acknowledged %d", hs.GetCommit(), durableCommit)
				}
				for idx, data := range acked {
					got, err := r.Entries(idx, idx+1, ^uint64(0))
					if err != nil {
						t.Fatalf("acknowledged entry %d lost: %v", idx, err)
					}
					if string(got[0].GetData()) != data {
						t.Fatalf("entry %d = %q, want %q", idx, got[0].GetData(), data)
					}
				}
				if r.IsEmpty() {
					// Crashed before the very first batch: start fresh.
					acked2, _, err := rawNodeRun(t, r, true, 3, "y")
					if err != nil || len(acked2) == 0 {
						t.Fatalf("fresh restart: %d entries, %v", len(acked2), err)
					}
					return
				}
				// Raft restarts on what survived and keeps committing.
				_, commit, err := rawNodeRun(t, r, false, 3, "y")
				if err != nil {
					t.Fatal(err)
				}
				if commit <= hs.GetCommit() {
					t.Fatalf("no progress after restart: commit %d, was %d", commit, hs.GetCommit())
				}
			})
		}
	}
}
