// Package config defines the journal server's configuration: the keys of
// config/journal-server.toml, their defaults and the flags that override
// them. It owns parsing and validation only; it must never start anything.
package config
