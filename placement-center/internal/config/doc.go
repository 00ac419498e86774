// Package config defines the placement center's configuration: the keys of
// config/placement-center.toml, their defaults and the command-line flags
// that override them. It owns parsing and validation only; it must never
// start anything.
package config
