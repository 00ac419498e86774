// Package etcdmember runs one member of an etcd cluster in this process
// through go.etcd.io/etcd/server/v3/embed, with etcd's default durability
// (the WAL is fsynced) and loopback URLs only. The bench starts three
// processes of itself with the etcd-member subcommand, so etcd gets the
// same three-process shape as the placement center.
//
// It owns the embedded server for the lifetime of Run. It must never
// listen on anything but the URLs it is given, never disable fsync, and
// never outlive the context passed to Run.
package etcdmember
