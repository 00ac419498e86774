package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Names of the flags every binary has (common/servicemain defines them).
const (
	ConfigFlag  = "config"
	DataDirFlag = "data-dir"
	// DataDirKey is the config key that --data-dir conventionally maps to.
	DataDirKey = "data_dir"
)

// Options says where the configuration comes from.
type Options struct {
	// Path is the TOML file. Empty means the --config flag of Flags if it
	// was set, and otherwise no file (defaults and overrides only). A
	// named file that does not exist is an error.
	Path string
	// EnvPrefix prefixes every environment override: with prefix
	// ROBUSTMQ_PLACEMENT, key raft.election_ticks is read from
	// ROBUSTMQ_PLACEMENT_RAFT_ELECTION_TICKS.
	EnvPrefix string
	// Flags holds the parsed command line; may be nil.
	Flags *pflag.FlagSet
	// FlagKeys maps a flag name to the config key it overrides, e.g.
	// "data-dir" -> "data_dir". A flag overrides only when the user set
	// it, so a flag's own default never hides the file or environment.
	FlagKeys map[string]string
	// AllowUnknownKeys accepts file keys that have no field in the
	// target. By default they are an error, because an unknown key is
	// almost always a typo that would otherwise silently keep a default.
	AllowUnknownKeys bool
}

// Load fills out, a pointer to a struct with mapstructure tags whose
// current field values serve as defaults, from the file, the environment
// and the flags. Durations may be written as "5s"; string slices as TOML
// arrays, or comma-separated in the environment and on the command line.
func Load(opts Options, out any) error {
	target := reflect.ValueOf(out)
	if target.Kind() != reflect.Pointer || target.IsNil() || target.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: target must be a non-nil pointer to a struct, got %T", out)
	}

	v := viper.New()
	v.SetConfigType("toml")
	if opts.EnvPrefix != "" {
		v.SetEnvPrefix(opts.EnvPrefix)
	}
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()

	// Every field becomes a known key, so AutomaticEnv finds overrides
	// for keys the file does not mention.
	setDefaults(v, "", target.Elem())

	path, err := configPath(opts)
	if err != nil {
		return err
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config: read %s: %w", path, err)
		}
	}

	if err := bindFlags(v, opts.Flags, opts.FlagKeys); err != nil {
		return err
	}

	var decodeOpts []viper.DecoderConfigOption
	if !opts.AllowUnknownKeys {
		decodeOpts = append(decodeOpts, func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true })
	}
	if err := v.Unmarshal(out, decodeOpts...); err != nil {
		if path != "" {
			return fmt.Errorf("config: %s: %w", path, err)
		}
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// configPath returns the file to read: Options.Path, else a set --config
// flag, else none.
func configPath(opts Options) (string, error) {
	if opts.Path != "" {
		return opts.Path, nil
	}
	if opts.Flags == nil {
		return "", nil
	}
	f := opts.Flags.Lookup(ConfigFlag)
	if f == nil || !f.Changed {
		return "", nil
	}
	if f.Value.String() == "" {
		return "", errors.New("config: --config is empty")
	}
	return f.Value.String(), nil
}

func bindFlags(v *viper.Viper, fs *pflag.FlagSet, keys map[string]string) error {
	if len(keys) == 0 {
		return nil
	}
	if fs == nil {
		return errors.New("config: FlagKeys given without Flags")
	}
	for name, key := range keys {
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("config: FlagKeys names flag --%s, which is not defined", name)
		}
		if err := v.BindPFlag(key, f); err != nil {
			return fmt.Errorf("config: bind --%s to %s: %w", name, key, err)
		}
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// setDefaults registers every leaf field of the struct value sv under
// its mapstructure key, with its current value as the default.
func setDefaults(v *viper.Viper, prefix string, sv reflect.Value) {
	st := sv.Type()
	for i := range st.NumField() {
		field := st.Field(i)
		if !field.IsExported() {
			continue
		}
		name, squash := fieldKey(field)
		if name == "-" {
			continue
		}
		fv := sv.Field(i)
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if field.Type.Kind() == reflect.Struct && field.Type != durationType && !isOpaqueStruct(field.Type) {
			if squash || field.Anonymous && name == "" {
				setDefaults(v, prefix, fv)
			} else {
				setDefaults(v, key, fv)
			}
			continue
		}
		v.SetDefault(key, fv.Interface())
	}
}

// fieldKey returns the mapstructure key of a field (its tag name, or the
// lower-cased field name mapstructure matches case-insensitively) and
// whether the field is squashed into its parent.
func fieldKey(field reflect.StructField) (string, bool) {
	tag := field.Tag.Get("mapstructure")
	name, rest, _ := strings.Cut(tag, ",")
	squash := false
	for opt := range strings.SplitSeq(rest, ",") {
		if opt == "squash" {
			squash = true
		}
	}
	if name == "" && !squash {
		name = strings.ToLower(field.Name)
	}
	return name, squash
}

// isOpaqueStruct reports struct types that are values, not sections
// (time.Time), so they are set whole rather than walked.
func isOpaqueStruct(t reflect.Type) bool {
	return t.PkgPath() == "time"
}
