// Package recordbatch is the wire and on-disk format of one producer batch:
// a fixed-width big-endian header protected by a CRC-32C, followed by the
// records. It owns encoding, decoding, validation and the in-place patch of
// the offset and epoch fields that a segment leader applies when it assigns
// offsets.
//
// It is a codec and nothing else: it must never do I/O, keep state, decide
// offsets or epochs, or panic on any input handed to a decoding function.
// Decoders reject everything they would not re-encode byte for byte, so a
// batch that decodes is exactly the batch that was written.
//
// Layout (all integers big-endian, offsets in bytes):
//
//	0  magic            uint8   Version
//	1  crc              uint32  CRC-32C (Castagnoli) of bytes [5, length)
//	5  length           uint32  total batch length, header included
//	9  epoch            uint64  epoch of the leader that assigned offsets
//	17 first_offset     uint64
//	25 count            uint32  number of records
//	29 first_timestamp  int64   ms; timestamp of the first record
//	37 max_timestamp    int64   ms; largest record timestamp
//	45 producer_id      uint64  0 = none
//	53 producer_epoch   uint32
//	57 base_sequence    int32   -1 = none
//	61 attributes       uint16  reserved, must be 0 in this version
//	63 records...
//
// A record is: timestamp delta from first_timestamp (zigzag varint), key
// (zigzag varint length, -1 for null, then bytes), value (same), header
// count (uvarint), then per header a key (uvarint length + bytes) and a value
// (zigzag varint length, -1 for null, then bytes). Varints must be minimal.
//
// The length field is not in the brief's list of header fields; it is there
// so a reader can frame batches in a stream and detect a truncated batch
// before checking its CRC.
package recordbatch
