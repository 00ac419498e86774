// Package config defines the broker server's configuration: the keys of
// config/broker-server.toml, their defaults and the flags that override
// them (environment: ROBUSTMQ_BROKER_<KEY>, dots as underscores). It owns
// parsing and validation only; it must never start anything. A broker
// keeps no local state, so there is no data directory, and node_id 0 (the
// default) lets the placement center assign a fresh id at every start.
package config
