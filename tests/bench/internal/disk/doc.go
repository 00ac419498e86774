// Package disk measures what the disk under the benchmark's data can do
// for a replicated log: a loop that appends one batch of bytes to a file
// and fdatasyncs it, the way a log writer commits a group of records.
//
// The loop is the ceiling a replicated log on this one disk can reach:
// with three replicas on one machine every acknowledged byte is written
// and synced three times, so the benchmark divides the loop's rate by the
// replica count. It never writes outside Options.Dir.
package disk
