// Package config loads a process's configuration (DESIGN section 6): one
// TOML file read with viper, every key overridable by an environment
// variable, chosen keys overridable by command-line flags, unmarshalled
// into the caller's struct whose initial field values are the defaults.
//
// Precedence, highest first: a flag the user set, the environment, the
// file, the struct's initial value.
//
// It owns nothing after Load returns. It must never read a file the
// caller did not name, keep a global viper instance, or validate the
// meaning of values (that belongs to each service's own config package).
package config
