// Package journal starts the journal side of the journal benchmark (three
// journal-server processes from bin/; the MQTT benchmark starts one or
// three under its broker, configured from config/journal/
// node-N.toml with ids, addresses, placement members and data dirs
// overridden, registered with a running placement center) and drives it
// in-process through common/streamclient: a windowed producer of
// single-record batches and a reader that reads a stream back from its
// earliest offset.
package journal
