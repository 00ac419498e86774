package config

import (
	"maps"
	"time"

	"github.com/spf13/pflag"
)

// Flags defines command-line flags together with the configuration key
// each one overrides, so a service declares every flag exactly once (name,
// key, default, usage) and the name -> key mapping Load needs
// (Options.FlagKeys) is derived from the declarations instead of being kept
// in step with them by hand.
type Flags struct {
	fs   *pflag.FlagSet
	keys map[string]string
}

// NewFlags binds declarations to fs.
func NewFlags(fs *pflag.FlagSet) *Flags {
	return &Flags{fs: fs, keys: map[string]string{}}
}

// Set is the underlying flag set.
func (f *Flags) Set() *pflag.FlagSet { return f.fs }

// Keys returns a copy of the flag name -> configuration key mapping.
func (f *Flags) Keys() map[string]string { return maps.Clone(f.keys) }

// String defines a string flag overriding key.
func (f *Flags) String(name, key, def, usage string) {
	f.fs.String(name, def, usage)
	f.keys[name] = key
}

// StringSlice defines a comma-separated list flag overriding key.
func (f *Flags) StringSlice(name, key string, def []string, usage string) {
	f.fs.StringSlice(name, def, usage)
	f.keys[name] = key
}

// Bool defines a boolean flag overriding key.
func (f *Flags) Bool(name, key string, def bool, usage string) {
	f.fs.Bool(name, def, usage)
	f.keys[name] = key
}

// Uint64 defines an unsigned integer flag overriding key.
func (f *Flags) Uint64(name, key string, def uint64, usage string) {
	f.fs.Uint64(name, def, usage)
	f.keys[name] = key
}

// Duration defines a duration flag overriding key.
func (f *Flags) Duration(name, key string, def time.Duration, usage string) {
	f.fs.Duration(name, def, usage)
	f.keys[name] = key
}
