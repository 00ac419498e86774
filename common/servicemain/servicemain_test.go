package servicemain

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/common/config"
)

type testConfig struct {
	DataDir string `mapstructure:"data_dir"`
	Port    int    `mapstructure:"port"`
	Log     struct {
		Level  string `mapstructure:"level"`
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`
}

func spec(dataDir bool, run func(context.Context, testConfig, zerolog.Logger) error) Spec[testConfig] {
	return Spec[testConfig]{
		Name:      "svc",
		EnvPrefix: "ROBUSTMQ_SERVICEMAIN_TEST",
		Default: func() testConfig {
			c := testConfig{DataDir: "./data", Port: 1}
			c.Log.Level, c.Log.Format = "info", "json"
			return c
		},
		AddFlags: func(f *config.Flags) { f.Uint64("port", "port", 1, "a port") },
		DataDir:  dataDir,
		Log:      func(c testConfig) (string, string) { return c.Log.Level, c.Log.Format },
		Run:      run,
	}
}

func TestRunAppliesFileThenFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "svc.toml")
	if err := os.WriteFile(file, []byte("port = 7\ndata_dir = \"/from/file\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got testConfig
	var stderr bytes.Buffer
	code := Run(context.Background(), spec(true, func(_ context.Context, c testConfig, _ zerolog.Logger) error {
		got = c
		return nil
	}), []string{"--config", file, "--data-dir", "/from/flag"}, &stderr)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got.Port != 7 || got.DataDir != "/from/flag" {
		t.Fatalf("config %+v: want port 7 from the file and data dir from the flag", got)
	}
}

func TestRunExitStatuses(t *testing.T) {
	ok := func(context.Context, testConfig, zerolog.Logger) error { return nil }
	var stderr bytes.Buffer
	if code := Run(context.Background(), spec(false, ok), []string{"--help"}, &stderr); code != ExitOK {
		t.Fatalf("--help: exit %d", code)
	}
	if code := Run(context.Background(), spec(false, ok), []string{"--data-dir", "x"}, &stderr); code != ExitUsage {
		t.Fatalf("--data-dir on a stateless service: exit %d, want %d", code, ExitUsage)
	}
	if code := Run(context.Background(), spec(false, ok), []string{"--config", "/does/not/exist.toml"}, &stderr); code != ExitUsage {
		t.Fatalf("missing config file: exit %d, want %d", code, ExitUsage)
	}
	stderr.Reset()
	failing := func(context.Context, testConfig, zerolog.Logger) error { return errors.New("disk on fire") }
	if code := Run(context.Background(), spec(true, failing), nil, &stderr); code != ExitFailed {
		t.Fatalf("failing service: exit %d, want %d", code, ExitFailed)
	}
	if !strings.Contains(stderr.String(), "disk on fire") || !strings.Contains(stderr.String(), "svc failed") {
		t.Fatalf("failure not logged: %q", stderr.String())
	}
}
