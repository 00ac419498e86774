// Package registration keeps a broker or journal process registered with the
// placement center: it registers at start, heartbeats at a third of the
// lease, registers again (getting a new incarnation) when the center says
// its registration is gone or dead, and unregisters on a clean stop. It owns
// the process's current node id and incarnation; it must never cache any
// other metadata (package metacache does that).
package registration
