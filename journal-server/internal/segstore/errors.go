package segstore

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. The typed errors below match their sentinel via
// an Is method and carry the detail a caller needs (errors.As).
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("segstore: store closed")
	// ErrNotFound: no such segment on this node.
	ErrNotFound = errors.New("segstore: segment not found")
	// ErrAlreadyExists: CreateSegment found the segment with other
	// parameters. See *AlreadyExistsError.
	ErrAlreadyExists = errors.New("segstore: segment already exists")
	// ErrFenced: the request's epoch is below the fence. See *FencedError.
	ErrFenced = errors.New("segstore: fenced")
	// ErrSealed: the segment is sealed. See *SealedError.
	ErrSealed = errors.New("segstore: segment sealed")
	// ErrNotContiguous: a replicated batch does not start at the log end.
	// See *NotContiguousError.
	ErrNotContiguous = errors.New("segstore: batch not contiguous with the log end")
	// ErrIncomplete: Seal asked for an end past what this replica holds.
	// See *IncompleteError.
	ErrIncomplete = errors.New("segstore: replica is missing data")
	// ErrOutOfRange: a read offset outside [start, log end]. See
	// *OutOfRangeError.
	ErrOutOfRange = errors.New("segstore: offset out of range")
	// ErrCorrupt: stored data failed its check. See *CorruptError.
	ErrCorrupt = errors.New("segstore: stored data corrupt")
	// ErrInvalidBatch: an appended batch does not decode or is unusable
	// (empty, offsets overflow, epoch above the sender's). The recordbatch
	// error is wrapped too, so errors.Is(err, recordbatch.ErrTooLarge)
	// works.
	ErrInvalidBatch = errors.New("segstore: invalid batch")
	// ErrNotBatchBoundary: Seal's end would split a stored batch.
	ErrNotBatchBoundary = errors.New("segstore: seal end is not a batch boundary")
	// ErrInvalidArgument: any other argument the store cannot accept (bad
	// segment id, seal end below start or below the LAC).
	ErrInvalidArgument = errors.New("segstore: invalid argument")
)

// AlreadyExistsError says CreateSegment met an existing segment created
// with a different start offset or epoch; it holds the existing ones.
type AlreadyExistsError struct {
	ID          SegmentID
	StartOffset uint64
	Epoch       uint64
}

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("segstore: segment %s already exists with start %d epoch %d", e.ID, e.StartOffset, e.Epoch)
}

// Is matches ErrAlreadyExists.
func (e *AlreadyExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// FencedError says the segment is fenced at Epoch, above the request's.
type FencedError struct {
	Epoch uint64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("segstore: fenced at epoch %d", e.Epoch)
}

// Is matches ErrFenced.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// SealedError says the segment is sealed at End.
type SealedError struct {
	End uint64
}

func (e *SealedError) Error() string {
	return fmt.Sprintf("segstore: segment sealed at %d", e.End)
}

// Is matches ErrSealed.
func (e *SealedError) Is(target error) bool { return target == ErrSealed }

// NotContiguousError says a replicated batch must start at Expected, the
// replica's log end.
type NotContiguousError struct {
	Expected uint64
	Got      uint64
}

func (e *NotContiguousError) Error() string {
	return fmt.Sprintf("segstore: batch starts at %d, log end is %d", e.Got, e.Expected)
}

// Is matches ErrNotContiguous.
func (e *NotContiguousError) Is(target error) bool { return target == ErrNotContiguous }

// IncompleteError says the replica holds offsets only up to Have, below the
// requested seal end: the caller must copy the missing tail from another
// replica (AppendRecovered) and seal again.
type IncompleteError struct {
	Have uint64
	Want uint64
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("segstore: replica has data up to %d, seal wants %d", e.Have, e.Want)
}

// Is matches ErrIncomplete.
func (e *IncompleteError) Is(target error) bool { return target == ErrIncomplete }

// OutOfRangeError says Offset is outside [Start, End] of the segment.
type OutOfRangeError struct {
	Offset uint64
	Start  uint64
	End    uint64
}

func (e *OutOfRangeError) Error() string {
	return fmt.Sprintf("segstore: offset %d outside [%d, %d]", e.Offset, e.Start, e.End)
}

// Is matches ErrOutOfRange.
func (e *OutOfRangeError) Is(target error) bool { return target == ErrOutOfRange }

// CorruptError says the stored data of segment ID at Offset failed a check
// (CRC, header/key mismatch, missing batch). Err is the underlying cause
// when there is one (for example recordbatch.ErrCorrupt).
type CorruptError struct {
	ID     SegmentID
	Offset uint64
	Err    error
}

func (e *CorruptError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("segstore: segment %s corrupt at offset %d", e.ID, e.Offset)
	}
	return fmt.Sprintf("segstore: segment %s corrupt at offset %d: %v", e.ID, e.Offset, e.Err)
}

// Is matches ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }
