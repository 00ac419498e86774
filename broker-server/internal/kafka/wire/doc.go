// Package wire is the Kafka protocol codec of the broker: request headers
// v0-v2, response headers v0-v1, classic and flexible (compact, tagged
// field) encodings of the request and response bodies of every API the
// broker serves (APIs lists them with their version ranges), the Kafka
// error codes, and the v2 record batch (CRC-32C, varint records, gzip,
// snappy (raw and xerial framed), lz4 and zstd).
//
// Each body has one codec method walked by both the encoder and the
// decoder, so the two cannot disagree; its field presence per version
// follows the Apache Kafka message definitions and is checked byte for
// byte against franz-go's kmsg in the tests.
//
// It owns bytes only: it must never do I/O, hold state between calls,
// interpret a request (that is the server's job), panic or allocate
// without bound on hostile input (every length is checked against the
// bytes left; decompression is bounded by BatchLimits).
package wire
