// Package sys publishes the broker's statistics as retained MQTT messages
// under $SYS/brokers/{node}/ (uptime, version, connected clients, sessions,
// subscriptions, messages and bytes received and sent), at a fixed interval.
// Topics starting with '$' are not matched by filters starting with a
// wildcard ('#', '+/...'), so only clients subscribing to $SYS/... see them.
//
// It owns the topic layout, the payload format (decimal ASCII) and the
// timer; it reads the numbers from a Source and hands each message to a
// Publisher, so the broker core behind the Publisher (in memory today,
// cluster-backed later) can change without touching this package. It must
// never route, store or encode messages itself, and never publish anything
// outside $SYS/.
package sys
