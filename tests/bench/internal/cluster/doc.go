// Package cluster starts the two three-member clusters the benchmark
// compares (the MQTT benchmark starts a placement center of one or
// three), each member its own process on fresh loopback ports and a
// fresh data directory: the placement center (bin/placement-center) and
// etcd (this binary's etcd-member subcommand). It returns once a cluster
// has a leader every member agrees on and has acknowledged a write, or
// fails with the members' log tails.
//
// It owns nothing after Start returns: the processes belong to the
// procs.Group it was given. It must never wait without a deadline and
// never bind anything but 127.0.0.1.
package cluster
