// Package clients builds the equal-sized connection pools the benchmark
// drives: for the placement center, one common/leaderclient.Client per
// slot (each follows the leader over its own gRPC connections); for etcd,
// one clientv3.Client per slot (one gRPC connection each). Every slot is a
// load.Putter.
//
// It owns the clients of a pool until Close. It must never retry a write
// on its own (the systems' own clients decide that) and never dial
// anything but the addresses it is given.
package clients
