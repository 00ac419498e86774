package segstore

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Status is the lifecycle state of a segment replica.
type Status uint8

const (
	// StatusOpen: accepting appends.
	StatusOpen Status = 1
	// StatusFenced: a recovery fenced this replica at a higher epoch than
	// it was created with; appends at or above the fence are still taken
	// (they come from the recovery's epoch) until the seal.
	StatusFenced Status = 2
	// StatusSealed: immutable, ends at SealedEnd.
	StatusSealed Status = 3
)

func (s Status) String() string {
	switch s {
	case StatusOpen:
		return "open"
	case StatusFenced:
		return "fenced"
	case StatusSealed:
		return "sealed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// SegmentState is the durable metadata of one local segment replica.
type SegmentState struct {
	ID     SegmentID
	Status Status
	// StartOffset is the offset of the segment's first record.
	StartOffset uint64
	// Epoch is the epoch the segment was created with.
	Epoch uint64
	// FenceEpoch is the lowest epoch still accepted by Append and
	// AppendReplica: the highest of the creation epoch, every Fence and
	// every accepted append's epoch.
	FenceEpoch uint64
	// LogEnd is the next offset to be written (StartOffset when empty).
	LogEnd uint64
	// DurableEnd is the durable log end: every batch below it is fsynced.
	// LogEnd may be ahead of it by appends made without sync
	// (AppendUnsynced, AppendReplicaUnsynced) until the next Sync or
	// synced write. It is not stored: after a reopen it is LogEnd.
	DurableEnd uint64
	// LAC is the last add confirmed this replica knows: offsets below it
	// are committed. It may lag the true LAC after a crash (see AdvanceLAC).
	LAC uint64
	// Sealed is Status == StatusSealed; SealedEnd is then the end.
	Sealed    bool
	SealedEnd uint64
	// MaxTimestampMs is the largest batch timestamp stored, math.MinInt64
	// when the segment holds no batch.
	MaxTimestampMs int64
	// Bytes is the total size of the stored batches.
	Bytes uint64
}

// segmentMeta is the stored form of SegmentState without the id (which is
// in the key).
type segmentMeta struct {
	status     Status
	start      uint64
	epoch      uint64
	fenceEpoch uint64
	logEnd     uint64
	lac        uint64
	sealedEnd  uint64
	maxTs      int64
	bytes      uint64
}

const metaVersion = 1

const metaSize = 2 + 8*8

func newMeta(start, epoch uint64) segmentMeta {
	return segmentMeta{
		status:     StatusOpen,
		start:      start,
		epoch:      epoch,
		fenceEpoch: epoch,
		logEnd:     start,
		lac:        start,
		maxTs:      math.MinInt64,
	}
}

func (m segmentMeta) empty() bool { return m.logEnd == m.start }

func (m segmentMeta) state(id SegmentID) SegmentState {
	return SegmentState{
		ID:             id,
		Status:         m.status,
		StartOffset:    m.start,
		Epoch:          m.epoch,
		FenceEpoch:     m.fenceEpoch,
		LogEnd:         m.logEnd,
		LAC:            m.lac,
		Sealed:         m.status == StatusSealed,
		SealedEnd:      m.sealedEnd,
		MaxTimestampMs: m.maxTs,
		Bytes:          m.bytes,
	}
}

func (m segmentMeta) encode() []byte {
	b := make([]byte, 0, metaSize)
	b = append(b, metaVersion, byte(m.status))
	for _, v := range []uint64{m.start, m.epoch, m.fenceEpoch, m.logEnd, m.lac, m.sealedEnd, uint64(m.maxTs), m.bytes} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func decodeMeta(b []byte) (segmentMeta, error) {
	if len(b) != metaSize || b[0] != metaVersion {
		return segmentMeta{}, fmt.Errorf("%w: metadata of %d bytes, version %v", ErrCorrupt, len(b), b[:min(1, len(b))])
	}
	m := segmentMeta{status: Status(b[1])}
	v := func(i int) uint64 { return binary.BigEndian.Uint64(b[2+8*i:]) }
	m.start, m.epoch, m.fenceEpoch, m.logEnd = v(0), v(1), v(2), v(3)
	m.lac, m.sealedEnd, m.maxTs, m.bytes = v(4), v(5), int64(v(6)), v(7)
	if m.status < StatusOpen || m.status > StatusSealed || m.logEnd < m.start || m.lac > m.logEnd || m.lac < m.start {
		return segmentMeta{}, fmt.Errorf("%w: inconsistent metadata %+v", ErrCorrupt, m)
	}
	return m, nil
}
