package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// storedBatchKey is segstore's key of the batch of segment id at first
// ('b', then the segment as len(tenant)(2) tenant len(shard)(2) shard
// seq(4), then first(8); see the segstore package doc). The test damages
// the store underneath it, so it spells the layout out itself.
func storedBatchKey(id segstore.SegmentID, first uint64) []byte {
	k := []byte{'b'}
	k = binary.BigEndian.AppendUint16(k, uint16(len(id.Tenant)))
	k = append(k, id.Tenant...)
	k = binary.BigEndian.AppendUint16(k, uint16(len(id.Shard)))
	k = append(k, id.Shard...)
	k = binary.BigEndian.AppendUint32(k, id.Seq)
	return binary.BigEndian.AppendUint64(k, first)
}

// damage rewrites (or deletes) the stored batch of id at first directly in
// the closed store's Pebble directory.
func damage(t *testing.T, dir string, id segstore.SegmentID, first uint64, how func(val []byte) []byte) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatalf("open pebble: %v", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatalf("close pebble: %v", err)
		}
	}()
	key := storedBatchKey(id, first)
	val, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("no stored batch of %s at %d: %v", id, first, err)
	}
	val = how(append([]byte(nil), val...))
	_ = closer.Close()
	if val == nil {
		err = db.Delete(key, pebble.Sync)
	} else {
		err = db.Set(key, val, pebble.Sync)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// readErr reads seg from `from` (Read, or ReadReplica when replica) and
// returns the first offsets of the batches served and the error that ended
// the stream (nil at a clean end).
func readErr(t *testing.T, cl journalpb.JournalServiceClient, seg *placementpb.Segment, from uint64, replica bool) ([]uint64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var recv func() (*journalpb.ReadResponse, error)
	if replica {
		s, err := cl.ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: ref(seg), FromOffset: from})
		if err != nil {
			return nil, err
		}
		recv = s.Recv
	} else {
		s, err := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromOffset: from, MaxBytes: 200})
		if err != nil {
			return nil, err
		}
		recv = s.Recv
	}
	var firsts []uint64
	for {
		resp, err := recv()
		if err == io.EOF {
			return firsts, nil
		}
		if err != nil {
			return firsts, err
		}
		for _, b := range resp.GetBatches() {
			h, err := recordbatch.DecodeHeader(b)
			if err != nil {
				t.Fatalf("served an undecodable batch: %v", err)
			}
			if err := recordbatch.Verify(b); err != nil {
				t.Fatalf("served a batch at %d that fails its CRC: %v", h.FirstOffset, err)
			}
			firsts = append(firsts, h.FirstOffset)
		}
		if !replica && len(resp.GetBatches()) == 0 {
			return firsts, nil
		}
	}
}

// TestCorruptBatchIsNeverServed writes batches through the server, damages
// one stored batch on disk (a flipped payload byte; a header rewritten with
// a valid CRC but another offset; the batch gone) and restarts the node:
// Read and ReadReplica answer DataLoss and serve nothing at or past the
// damaged batch (so recovery cannot copy it), the rest of the node keeps
// serving, Describe still works, and an append to the damaged segment is
// refused with DataLoss in-band while the stream stays usable.
func TestCorruptBatchIsNeverServed(t *testing.T) {
	kinds := []struct {
		name string
		how  func(val []byte) []byte
	}{
		{"payload byte flipped", func(v []byte) []byte { v[len(v)-1] ^= 0x01; return v }},
		{"offset rewritten with a valid crc", func(v []byte) []byte {
			binary.BigEndian.PutUint64(v[17:], binary.BigEndian.Uint64(v[17:])+1) // first_offset
			binary.BigEndian.PutUint32(v[1:], crc32.Checksum(v[5:], crc32.MakeTable(crc32.Castagnoli)))
			if recordbatch.Verify(v) != nil {
				panic("test damage must keep the CRC valid")
			}
			return v
		}},
		{"batch deleted", func([]byte) []byte { return nil }},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			c := newCluster(t, 1, testLimits{})
			n := c.nodes[1]
			seg := c.meta.addShard("s", []uint64{1}, 1, nil)
			other := c.meta.addShard("other", []uint64{1}, 1, nil)
			a := openAppend(t, dial(t, n.addr))
			var firsts []uint64
			for i := 0; i < 6; i++ {
				firsts = append(firsts, a.mustDo(seg, batch(fmt.Sprint("b", i), 2)).GetFirstOffset())
			}
			for i := 0; i < 3; i++ {
				a.mustDo(other, batch(fmt.Sprint("o", i), 1))
			}
			id := segstore.SegmentID{Tenant: "default", Shard: "s"}
			eventually(t, 5*time.Second, "LAC persisted", func() error {
				st, err := n.store.Describe(id)
				if err == nil && st.LAC != st.LogEnd {
					err = fmt.Errorf("LAC %d, log end %d", st.LAC, st.LogEnd)
				}
				return err
			})
			cl := dial(t, n.addr)
			before, err := describe(t, cl, seg)
			if err != nil {
				t.Fatal(err)
			}

			n.stop()
			bad := firsts[3]
			damage(t, n.dir, id, bad, kind.how)
			n.start()
			cl = dial(t, n.addr)

			for _, replica := range []bool{false, true} {
				for _, from := range []uint64{0, firsts[2], bad, bad + 1} {
					got, err := readErr(t, cl, seg, from, replica)
					if status.Code(err) != codes.DataLoss {
						t.Fatalf("replica=%v from %d: got batches %v, err %v; want DataLoss", replica, from, got, err)
					}
					for _, f := range got {
						if f >= bad {
							t.Fatalf("replica=%v from %d: served the batch at %d, at or past the damaged one at %d", replica, from, f, bad)
						}
					}
				}
				// Past the damaged batch the replica is sound.
				got, err := readErr(t, cl, seg, firsts[4], replica)
				if err != nil || len(got) != 2 || got[0] != firsts[4] {
					t.Fatalf("replica=%v read past the damage: %v %v", replica, got, err)
				}
			}

			d, err := describe(t, cl, seg)
			if err != nil || d.GetLogEnd() != before.GetLogEnd() || d.GetStartOffset() != before.GetStartOffset() {
				t.Fatalf("describe after the damage: %v %v (before %v)", d, err, before)
			}
			// The other segment is served whole, and takes appends.
			if got, err := readErr(t, cl, other, 0, false); err != nil || len(got) != 3 {
				t.Fatalf("other segment: %v %v", got, err)
			}
			b := openAppend(t, cl)
			var resp *journalpb.AppendResponse
			eventually(t, 5*time.Second, "restarted leader takes appends", func() error {
				resp = b.do(other, batch("o-after", 1))
				return rpcerr.FromProto(resp.GetError())
			})
			if resp.GetFirstOffset() != 3 {
				t.Fatalf("append to the other segment at %d, want 3", resp.GetFirstOffset())
			}
			// The damaged segment's leader cannot rebuild its producer
			// table through the damage: appends are refused, not lost.
			if err := rpcerr.FromProto(b.do(seg, batch("s-after", 1)).GetError()); status.Code(err) != codes.DataLoss {
				t.Fatalf("append to the damaged segment: %v", err)
			}
			if d, _ := describe(t, cl, seg); d.GetLogEnd() != before.GetLogEnd() {
				t.Fatalf("damaged segment's log end moved: %v", d)
			}
			b.mustDo(other, batch("o-last", 1))
		})
	}
}
