package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot framing:
//
//	magic "RMQFSM01"
//	repeated: uvarint key length, key, uvarint value length, value
//	uint64 BE number of pairs
//	uint32 BE CRC-32C (Castagnoli) of everything before it
//
// meta/applied_index is not included: the index travels beside the data.
const (
	snapshotMagic   = "RMQFSM01"
	snapshotTrailer = 8 + 4
	// snapshotMaxKeyEnd bounds the keyspace Restore clears: every key of
	// the layout starts with a lower-case ASCII letter.
	snapshotMaxKeyEnd = "\xff"
)

func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// Snapshot serializes every state key from one Pebble snapshot and returns
// it with the applied index that snapshot covers (read from the snapshot
// itself, so data and index always agree).
func (f *FSM) Snapshot() ([]byte, uint64, error) {
	snap := f.db.NewSnapshot()
	defer snap.Close()
	index, _, err := getUint64(snap, []byte(keyAppliedIndex))
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: snapshot: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(snapshotMagic)
	var pairs uint64
	var lenBuf [binary.MaxVarintLen64]byte
	err = scan(snap, nil, func(key, value []byte) (bool, error) {
		if string(key) == keyAppliedIndex {
			return true, nil
		}
		buf.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(key)))])
		buf.Write(key)
		buf.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(value)))])
		buf.Write(value)
		pairs++
		return true, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: snapshot: %w", err)
	}
	buf.Write(be64(pairs))
	buf.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(buf.Bytes(), castagnoli())))
	return buf.Bytes(), index, nil
}

type snapshotPair struct{ key, value []byte }

// decodeSnapshot checks the framing and CRC and returns the pairs, which
// alias data.
func decodeSnapshot(data []byte) ([]snapshotPair, error) {
	if len(data) < len(snapshotMagic)+snapshotTrailer {
		return nil, fmt.Errorf("snapshot of %d bytes is too short", len(data))
	}
	body, crc := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli()); got != crc {
		return nil, fmt.Errorf("snapshot checksum %08x, want %08x", got, crc)
	}
	if string(body[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("snapshot has an unknown format")
	}
	want := binary.BigEndian.Uint64(body[len(body)-8:])
	rest := body[len(snapshotMagic) : len(body)-8]
	var pairs []snapshotPair
	field := func() ([]byte, error) {
		n, size := binary.Uvarint(rest)
		if size <= 0 || n > uint64(len(rest)-size) {
			return nil, errors.New("snapshot pair is truncated")
		}
		v := rest[size : size+int(n)]
		rest = rest[size+int(n):]
		return v, nil
	}
	for len(rest) > 0 {
		key, err := field()
		if err != nil {
			return nil, err
		}
		value, err := field()
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, snapshotPair{key: key, value: value})
	}
	if uint64(len(pairs)) != want {
		return nil, fmt.Errorf("snapshot holds %d pairs, trailer says %d", len(pairs), want)
	}
	return pairs, nil
}

// Restore replaces the whole state with a snapshot taken at index, in one
// synced batch, then resets the watch hub: watchers must list again because
// no event sequence describes the jump.
func (f *FSM) Restore(data []byte, index uint64) error {
	pairs, err := decodeSnapshot(data)
	if err != nil {
		return fmt.Errorf("fsm: restore at index %d: %w", index, err)
	}
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	b := f.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{}, []byte(snapshotMaxKeyEnd), nil); err != nil {
		return fmt.Errorf("fsm: restore: clear state: %w", err)
	}
	for _, p := range pairs {
		if err := b.Set(p.key, p.value, nil); err != nil {
			return fmt.Errorf("fsm: restore: stage %q: %w", p.key, err)
		}
	}
	if !hasKey(pairs, tenantKey(DefaultTenant)) {
		if err := setDefaultTenant(b); err != nil {
			return fmt.Errorf("fsm: restore: %w", err)
		}
	}
	if err := b.Set([]byte(keyAppliedIndex), be64(index), nil); err != nil {
		return fmt.Errorf("fsm: restore: stage applied index: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("fsm: restore: commit: %w", err)
	}
	f.applied.Store(index)
	if f.hub != nil {
		f.hub.Reset(index)
	}
	f.logger.Info().Uint64("applied_index", index).Int("keys", len(pairs)).Msg("state restored from snapshot")
	return nil
}

func hasKey(pairs []snapshotPair, key []byte) bool {
	for _, p := range pairs {
		if bytes.Equal(p.key, key) {
			return true
		}
	}
	return false
}
