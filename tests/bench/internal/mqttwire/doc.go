// Package mqttwire is the benchmark's MQTT 3.1.1 client over the wire:
// CONNECT, PUBLISH at QoS 0 and 1 with a completion callback per
// publish, SUBSCRIBE, PUBACK (at once, or later when the caller says so),
// DISCONNECT. Writes from many goroutines are batched into one write(2)
// by a flusher goroutine, so a client with many messages in flight costs
// few system calls, the same for every broker it talks to.
//
// It exists instead of Eclipse Paho because the benchmark must bound the
// messages a publisher has in flight, time each one from send to PUBACK
// through a callback, and hold a subscriber's PUBACKs back on purpose;
// the same code drives every broker compared.
//
// It owns its connection and two goroutines (reader, flusher), both ended
// by Close or by the connection failing. It must never dial anything but
// the address it is given, never retry, and never block a caller without
// a deadline or a way out through Close.
package mqttwire
